"""`voicepipe user …`: manage accounts from the command line."""

from __future__ import annotations

import asyncio

import click

from voicepipe.cli.common import command_settings, ready_resources, run
from voicepipe.services.accounts import create_user


@click.group()
def user() -> None:
    """Manage users and API tokens."""


@user.command("create")
@click.option("--email", required=True, help="The new user's email address.")
@click.option("--admin", is_flag=True, help="Make the user an admin.")
def create(email: str, admin: bool) -> None:
    """Create a user; prints the new API token once, alone on the last line."""
    with command_settings("cli") as settings:

        async def main(stop: asyncio.Event) -> None:
            async with ready_resources(settings, db_pool_size=1) as resources:
                new = await create_user(resources.db, email, admin=admin)
            click.echo(f"created {new.role} {new.email} (id {new.id}); API token (shown once):")
            click.echo(new.token)

        run(main)
