"""Shopify: install (OAuth), webhook payloads, backfill and reconciliation through the Admin GraphQL API."""
