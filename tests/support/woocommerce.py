"""WooCommerce's documented payloads (tests/fixtures/woocommerce), for tests to change and send."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parents[1] / "fixtures" / "woocommerce"


def document(name: str, **changes: Any) -> dict[str, Any]:
    """A documented payload (`order_727`, `order_723`, `customer_25`), with some values changed."""
    loaded: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return {**copy.deepcopy(loaded), **changes}
