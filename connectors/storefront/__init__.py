"""Storefront events from the Shopify web pixel and the tracking snippet, posted to the collector."""
