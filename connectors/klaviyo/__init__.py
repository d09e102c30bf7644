"""Klaviyo lists as a destination of syncs."""
