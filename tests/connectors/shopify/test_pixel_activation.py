"""Switching storepulse's web pixel on for a shop (`webPixelCreate`, or `webPixelUpdate` when the
shop has it already), with the settings the extension declares; Shopify's answers as documented."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import responses

from connectors.shopify import setup
from connectors.shopify.client import ShopifyClient
from integration.errors import FatalConnectorError

SHOP = "pulse-demo.myshopify.com"
GRAPHQL = f"https://{SHOP}/admin/api/2026-07/graphql.json"
COLLECT = "https://storepulse.example.com/collect"
EXTENSION = Path(__file__).resolve().parents[3] / "extensions" / "storepulse-pixel" / "shopify.extension.toml"


def _client() -> ShopifyClient:
    return ShopifyClient(SHOP, "shpat_test", "2026-07")


def _answer(mock: responses.RequestsMock, answers: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Answer each GraphQL root field from `answers`; return what was sent."""
    sent: list[tuple[str, dict[str, Any]]] = []

    def graphql(request: Any) -> tuple[int, dict[str, str], str]:
        body = json.loads(request.body)
        sent.append((body["query"], body.get("variables") or {}))
        field = re.search(r"\{\s*(\w+)", body["query"]).group(1)  # the root field
        return 200, {}, json.dumps({"data": {field: answers[field]}})

    mock.add_callback(responses.POST, GRAPHQL, callback=graphql)
    return sent


def test_a_new_shop_gets_the_pixel_with_the_settings_the_extension_declares() -> None:
    with responses.RequestsMock() as mock:
        sent = _answer(
            mock,
            {
                "webPixelCreate": {
                    "webPixel": {"id": "gid://shopify/WebPixel/3", "settings": "{}"},
                    "userErrors": [],
                }
            },
        )
        assert setup.activate_pixel(_client(), COLLECT, "pk_abc") == "gid://shopify/WebPixel/3"
    [(query, variables)] = sent
    assert "webPixelCreate" in query
    settings = json.loads(variables["webPixel"]["settings"])  # a JSON string, as Shopify's examples send
    assert settings == {"collectUrl": COLLECT, "publicKey": "pk_abc"}
    declared = tomllib.loads(EXTENSION.read_text())["settings"]["fields"]
    assert set(settings) == set(declared)


def test_a_shop_with_the_pixel_already_has_its_settings_updated() -> None:
    with responses.RequestsMock() as mock:
        sent = _answer(
            mock,
            {
                "webPixelCreate": {
                    "webPixel": None,
                    "userErrors": [{"code": "TAKEN", "field": None, "message": "Web pixel is taken."}],
                },
                "webPixelUpdate": {
                    "webPixel": {"id": "gid://shopify/WebPixel/8", "settings": "{}"},
                    "userErrors": [],
                },
                "webPixel": {"id": "gid://shopify/WebPixel/8", "settings": "{}"},
            },
        )
        assert setup.activate_pixel(_client(), COLLECT, "pk_new") == "gid://shopify/WebPixel/8"
    assert ["webPixelCreate" in q for q, _ in sent] == [True, False, False]
    update_query, update_variables = sent[2]
    assert "webPixelUpdate" in update_query
    assert update_variables["id"] == "gid://shopify/WebPixel/8"
    assert json.loads(update_variables["webPixel"]["settings"])["publicKey"] == "pk_new"


def test_a_refusal_names_shopifys_reason() -> None:
    with responses.RequestsMock() as mock:
        _answer(
            mock,
            {
                "webPixelCreate": {
                    "webPixel": None,
                    "userErrors": [{"code": "NO_EXTENSION", "field": None, "message": "No extension found."}],
                }
            },
        )
        with pytest.raises(FatalConnectorError, match="NO_EXTENSION: No extension found"):
            setup.activate_pixel(_client(), COLLECT, "pk_abc")
