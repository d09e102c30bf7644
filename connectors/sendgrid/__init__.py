"""SendGrid's Event Webhook as a source of interactions."""
