"""The `storepulse` command line: the root group over one module per command group, and its entry point."""

from __future__ import annotations

import sys

import click

from integration import __version__
from integration.cli import (
    accounts,
    db,
    demo,
    imports,
    jobs,
    keys,
    processes,
    shopify,
    sources,
    status,
    stores,
    syncs,
    users,
    woocommerce,
)
from integration.errors import ConfigError


@click.group()
@click.version_option(__version__, prog_name="storepulse")
def cli() -> None:
    """storepulse: customers, orders, checkouts and engagement of your stores, in one place."""


for command in (
    db.db,
    accounts.accounts,
    stores.stores,
    sources.sources,
    keys.keys,
    users.users_group,
    shopify.shopify,
    woocommerce.woocommerce,
    syncs.syncs,
    imports.import_file,
    processes.worker,
    processes.scheduler,
    status.status,
    processes.serve,
    jobs.jobs,
    demo.demo,
):
    cli.add_command(command)


def main() -> None:
    """Console entry point: configuration errors become one line naming the variable."""
    try:
        cli(standalone_mode=True)
    except ConfigError as exc:
        click.echo(f"storepulse: configuration error: {exc}", err=True)
        sys.exit(2)
