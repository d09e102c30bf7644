"""Mailchimp audience webhooks as a source of consent, bounces and email changes."""
