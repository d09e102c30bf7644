"""Privacy requests: export everything stored about a customer, erase a customer, erase a store."""

from integration.privacy.customers import find_contact
from integration.privacy.erase import REDACTED_DOMAIN, redact_customer, redact_store
from integration.privacy.export import export_customer, get_export, list_exports, request_export

__all__ = [
    "REDACTED_DOMAIN",
    "export_customer",
    "find_contact",
    "get_export",
    "list_exports",
    "redact_customer",
    "redact_store",
    "request_export",
]
