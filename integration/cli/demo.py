"""`storepulse demo`: a demo account fed through the inbox and workers, and its summary as tables."""

from __future__ import annotations

import json
import time
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from integration.cli.common import console, json_option, read_settings
from integration.cli.supervisor import supervise
from integration.demo.run import run_demo

SUMMARY_WIDTH = 120  # characters, when the output is not a terminal (a file, a pipe)


@click.command("demo")
@click.option("--contacts", type=click.IntRange(100, 200_000), default=5000, show_default=True)
@click.option("--seed", type=int, default=7, show_default=True)
@click.option("--serve", "then_serve", is_flag=True, help="Stay up at http://127.0.0.1:8000 afterwards.")
@json_option
def demo(contacts: int, seed: int, then_serve: bool, as_json: bool) -> None:
    """Build a demo account, feed it through the inbox and workers, and print its summary."""
    settings = read_settings()
    started = time.monotonic()
    summary, token = run_demo(settings, contacts=contacts, seed=seed, console=console)
    summary["seconds"] = round(time.monotonic() - started, 1)
    if as_json:
        click.echo(json.dumps({**summary, "api_key": token}, indent=2, default=str))
    else:
        print_summary(summary, token)
        click.echo(
            "Serving the admin until Ctrl-C." if then_serve else "Serve the admin with `storepulse serve`."
        )
    if then_serve:
        supervise(settings, "127.0.0.1", None, 1)


def print_summary(summary: dict[str, Any], token: str) -> None:
    """Print the demo account's contacts, orders, checkouts and campaigns, and its API key."""
    out = Console()
    if not out.is_terminal:
        # Not the 80 columns rich assumes: the tables stay readable and the lines whole.
        out = Console(width=SUMMARY_WIDTH, soft_wrap=True)
    table = Table(title=f"{summary['account']['name']}: contacts by engagement and subscription")
    subs = ["subscribed", "unknown", "unsubscribed"]
    for column in ["engagement", *subs, "total"]:
        table.add_column(column, justify="left" if column == "engagement" else "right")
    for group in ("engaged", "unengaged", "blocked"):
        counts = summary["contacts"]["by_engagement"].get(group, {})
        table.add_row(group, *(str(counts.get(s, 0)) for s in subs), str(sum(counts.values())))
    out.print(table)
    orders = summary["orders"]
    revenue = ", ".join(f"{r['amount']} {r['currency']} ({r['orders']} orders)" for r in orders["revenue"])
    out.print(f"Orders: {orders['total']} in all; revenue (not cancelled, voided or refunded): {revenue}")
    carts = summary["checkouts"]
    out.print(
        "Checkouts: " + ", ".join(f"{carts.get(s, 0)} {s}" for s in ("completed", "abandoned", "recovered"))
    )
    out.print(
        f"Campaigns: {summary['campaigns']} with {summary['campaign_sends']} sends; "
        f"interactions stored: {summary['interactions']}"
    )
    out.print(_campaign_table(summary.get("campaign_results", [])))
    out.print(f"Built in {summary['seconds']} s. API key for this account (shown once): {token}")
    admin = summary["admin"]
    out.print(
        f"The admin: {admin['url']} — sign in as {admin['email']} with the password "
        f"{admin['password']} (shown once)."
    )


def _campaign_table(results: list[dict[str, Any]]) -> Table:
    table = Table(title="Campaign results (orders within the attribution window)")
    for column in ("campaign", "channel", "sends", "opened", "clicked", "scanned", "ordered", "revenue"):
        table.add_column(column, justify="left" if column in ("campaign", "channel", "revenue") else "right")
    for r in results:
        revenue = "\n".join(f"{m['amount']} {m['currency']}" for m in r["revenue"]) or "-"
        counts = (str(r[k]) for k in ("sends", "opened", "clicked", "scanned", "ordered"))
        table.add_row(r["name"], r["channel"], *counts, revenue)
    return table
