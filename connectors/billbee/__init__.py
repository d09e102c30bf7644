"""Billbee: orders and customers polled through its API, with a limiter shared by every worker."""
