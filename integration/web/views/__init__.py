"""Blueprints of the web process."""
