"""Signed webhooks as a destination of syncs."""
