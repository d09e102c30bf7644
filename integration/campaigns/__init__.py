"""Campaigns: sends, what they led to, and one email to one customer."""
