"""A store's orders, guest orders included: `GET /api/v1/orders`."""

from __future__ import annotations

from typing import Any

from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from integration.commerce.order_list import MAX_LIMIT, list_orders
from integration.keyset import BadCursor
from integration.web.context import db
from integration.web.views.auth import BEARER, fail, require_api_key
from integration.web.views.carts import CartContactSchema, CartStatsQuery, store_period
from integration.web.views.inputs import ONE_LINE, next_cursor_field, page_cursor_field, page_limit_field

blueprint = Blueprint("orders", __name__, url_prefix="/api/v1", description="Orders")
require_api_key(blueprint)


class OrderListQuery(CartStatsQuery):
    status = fields.String(
        validate=[validate.Length(1, 32), ONE_LINE],
        metadata={
            "description": "cancelled, unknown (no financial status), or a financial status as the "
            "platform gives it (e.g. paid, pending, authorized, refunded); default all"
        },
    )
    guest = fields.Boolean(
        metadata={"description": "true: only guest orders (no contact); false: only orders with one"}
    )
    limit = page_limit_field("orders", MAX_LIMIT, 50)
    cursor = page_cursor_field()


class OrderListItemSchema(Schema):
    id = fields.Integer(required=True)
    external_id = fields.String(required=True, metadata={"description": "the store's id of the order"})
    store_id = fields.Integer(required=True)
    name = fields.String(required=True, allow_none=True, metadata={"description": "e.g. #1001"})
    number = fields.String(required=True, allow_none=True)
    contact = fields.Nested(
        CartContactSchema, required=True, allow_none=True, metadata={"description": "null for a guest order"}
    )
    email = fields.String(required=True, allow_none=True, metadata={"description": "as the order gave it"})
    guest = fields.Boolean(required=True, metadata={"description": "the order reaches no contact"})
    created_at = fields.String(required=True, metadata={"format": "date-time"})
    created_at_local = fields.String(
        required=True, metadata={"format": "date-time", "description": "in the store's time zone"}
    )
    total_price = fields.String(required=True, metadata={"description": "decimal, two places"})
    total_refunded = fields.String(
        required=True, metadata={"description": "refunds recorded in its currency; decimal, two places"}
    )
    net_total = fields.String(
        required=True, metadata={"description": "total less refunds: what it counts for in revenue"}
    )
    currency = fields.String(required=True)
    status = fields.String(
        required=True, metadata={"description": "cancelled, else the financial status, else unknown"}
    )
    financial_status = fields.String(required=True, allow_none=True)
    fulfillment_status = fields.String(required=True, allow_none=True)
    cancelled_at = fields.String(required=True, allow_none=True, metadata={"format": "date-time"})
    line_items = fields.Integer(required=True, metadata={"description": "how many line items"})


class OrderListPageSchema(Schema):
    orders = fields.List(fields.Nested(OrderListItemSchema), required=True)
    next_cursor = next_cursor_field()


@blueprint.route("/orders")
class Orders(MethodView):
    @blueprint.doc(security=BEARER)
    @blueprint.arguments(OrderListQuery, location="query")
    @blueprint.response(200, OrderListPageSchema)
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """Orders created in the period, newest first, guest orders included, with their contact (or
        none), total, status and line count. Keyset pages with a cursor."""
        store_id, start, end = store_period(query)
        try:
            return list_orders(
                db.session,
                g.account_id,
                start,
                end,
                store_id=store_id,
                status=query.get("status"),
                guest=query.get("guest"),
                limit=query["limit"],
                cursor=query.get("cursor"),
            )
        except BadCursor as exc:
            fail(422, str(exc), "invalid_cursor")
