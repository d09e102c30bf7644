"""`storepulse sources`: email tools that post their events to storepulse, and their webhook URLs."""

from __future__ import annotations

from typing import Any

import click

from integration.accounts import (
    add_email_source,
    describe_email_source,
    email_sources,
    email_webhook_path,
    set_verification_key,
)
from integration.cli.common import emit, json_option, opened, read_settings
from integration.settings import Settings
from integration.store.models import EmailSource, EmailTool


@click.group("sources")
def sources() -> None:
    """Email tools that post their events (opens, clicks, bounces, consent) to storepulse."""


@sources.command("add")
@click.argument("account_id", type=int)
@click.option("--kind", type=click.Choice(["sendgrid", "mailchimp"]), required=True)
@click.option("--name", default=None, help="A name to tell sources apart (default: the kind).")
@click.option(
    "--verification-key",
    default=None,
    help="SendGrid's signed Event Webhook public key (PEM or base64 DER); required for SendGrid.",
)
@json_option
def sources_add(
    account_id: int, kind: str, name: str | None, verification_key: str | None, as_json: bool
) -> None:
    """Connect an email tool; prints the webhook URL to enter in the tool (shown once for Mailchimp)."""
    if kind == "sendgrid" and not (verification_key or "").strip():
        raise click.UsageError(
            "--verification-key is required for SendGrid: turn on Signature Verification in "
            "SendGrid's Event Webhook settings and pass the public key it shows"
        )
    settings = read_settings()
    with opened(settings) as session:
        source, secret = add_email_source(
            session, account_id, EmailTool(kind), name or kind, verification_key
        )
        url = settings.app_url + email_webhook_path(source, secret)
        data = {"id": source.id, "account_id": account_id, "kind": kind, "url": url}
    emit(as_json, data, f"email source {data['id']}: set the webhook URL in {kind} to\n{url}")


@sources.command("list")
@click.argument("account_id", type=int, required=False)
@json_option
def sources_list(account_id: int | None, as_json: bool) -> None:
    """List email sources (of one account, or all) and whether each accepts deliveries."""
    settings = read_settings()
    with opened(settings) as session:
        rows = [_described(settings, s) for s in email_sources(session, account_id)]
    lines = [
        f"{r['id']}\t{r['account_id']}\t{r['kind']}\t{r['name']}\t{r['url']}\t"
        + (
            "accepts signed deliveries"
            if r["signed"]
            else "accepts deliveries"
            if r["accepts_deliveries"]
            else f"REFUSES DELIVERIES: {r['problem']} (storepulse sources set-key {r['id']} KEY)"
        )
        for r in rows
    ]
    emit(as_json, {"sources": rows}, "\n".join(lines) or "no email sources")


@sources.command("set-key")
@click.argument("source_id", type=int)
@click.argument("verification_key")
@json_option
def sources_set_key(source_id: int, verification_key: str, as_json: bool) -> None:
    """Set or replace a SendGrid source's verification key (the signed Event Webhook's public key)."""
    settings = read_settings()
    with opened(settings) as session:
        data = _described(settings, set_verification_key(session, source_id, verification_key))
    emit(as_json, data, f"email source {source_id}: only deliveries signed with this key are accepted")


def _described(settings: Settings, source: EmailSource) -> dict[str, Any]:
    """A source as listed, with the full URL its tool posts to in place of the path."""
    data = describe_email_source(source)
    data["url"] = settings.app_url + data.pop("path")
    return data
