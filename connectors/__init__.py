"""Connectors: sources turn vendor shapes into store records, destinations turn records into vendor calls.

SOURCES maps an inbox delivery's `source` to the connector that normalizes it.
"""

from __future__ import annotations

from connectors.api.source import ApiSource
from connectors.mailchimp.source import MailchimpSource
from connectors.sendgrid.source import SendGridSource
from connectors.shopify.source import ShopifySource
from integration.ingest.inbox import Source

SOURCES: dict[str, Source] = {
    source.name: source for source in (ApiSource(), SendGridSource(), MailchimpSource(), ShopifySource())
}
