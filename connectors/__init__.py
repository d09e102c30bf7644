"""Connectors: sources turn vendor shapes into store records, destinations turn records into vendor calls.

The registry of both is `connectors.registry`; the contract they keep is `integration.contract`.
"""
