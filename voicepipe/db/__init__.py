"""SQL and row mapping (asyncpg); the only package that talks to PostgreSQL."""
