"""`voicepipe user …`: manage accounts from the command line."""

from __future__ import annotations

import asyncio
import sys

import click

from voicepipe.cli.common import command_settings, ready_resources, run
from voicepipe.services import sessions
from voicepipe.services.accounts import (
    check_new_password,
    create_user,
    list_users,
    revoke_token,
    set_password,
)


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


@user.command("list")
def list_command() -> None:
    """List users with their role and live tokens (id:prefix; tokens are stored only as digests)."""
    with command_settings("cli") as settings:

        async def main(stop: asyncio.Event) -> None:
            async with ready_resources(settings, db_pool_size=1) as resources:
                users = await list_users(resources.db)
            click.echo(f"{'id':>5}  {'role':<5}  {'email':<32}  tokens")
            for u in users:
                state = "  (disabled)" if u.disabled else ""
                tokens = ", ".join(u.tokens) or "-"
                click.echo(f"{u.id:>5}  {u.role:<5}  {u.email:<32}  {tokens}{state}")

        run(main)


@user.command("revoke-token")
@click.argument("token")
def revoke(token: str) -> None:
    """Revoke one API token, given as its id, its 10-character prefix (vp_…) or in full."""
    with command_settings("cli") as settings:

        async def main(stop: asyncio.Event) -> None:
            async with ready_resources(settings, db_pool_size=1) as resources:
                token_id = await revoke_token(resources.db, token)
            click.echo(f"revoked token {token_id}")

        run(main)


@user.command("set-password")
@click.option("--email", required=True, help="The user's email address.")
def set_password_command(email: str) -> None:
    """Set a user's password for signing in to the pages: read from stdin (its first line) when
    it is not a terminal, else asked for twice without echo. Every session of the user ends: who
    knew the old password is signed out."""
    if sys.stdin.isatty():
        password = click.prompt("New password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().removesuffix("\n").removesuffix("\r")
    check_new_password(password)  # before any server is started or reached
    with command_settings("cli") as settings:

        async def main(stop: asyncio.Event) -> None:
            async with ready_resources(settings, db_pool_size=1) as resources:
                changed = await set_password(resources.db, email, password)
                ended = await sessions.end_all(resources, changed.id)
            signed_out = f"; {ended} session{'s' if ended != 1 else ''} signed out" if ended else ""
            click.echo(f"password set for {changed.email} (id {changed.id}){signed_out}")

        run(main)
