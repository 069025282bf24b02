"""Embedded Valkey and PostgreSQL for machines with no servers configured."""
