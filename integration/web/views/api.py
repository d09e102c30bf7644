"""The merchant API (`/api/v1`): bearer-key authentication and the account's headline numbers."""

from __future__ import annotations

from typing import Any

from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from integration import privacy
from integration.analytics.summary import account_summary
from integration.ingest.backfill import store_backfill
from integration.store.models import Store
from integration.web.context import current_settings, db
from integration.web.views.auth import BEARER, fail, owned_store, require_api_key
from jobs.compute import classify_account_job
from jobs.queues import COMPUTE, enqueue, fetch_job

blueprint = Blueprint("api", __name__, url_prefix="/api/v1", description="Merchant API")


require_api_key(blueprint)


class JobSchema(Schema):
    id = fields.String(required=True)
    status = fields.String(required=True)
    result = fields.Raw(allow_none=True)
    enqueued_at = fields.DateTime(allow_none=True)
    ended_at = fields.DateTime(allow_none=True)


@blueprint.route("/summary")
class Summary(MethodView):
    @blueprint.doc(security=BEARER)
    @blueprint.response(200)
    def get(self) -> dict[str, Any]:
        """Contacts by engagement and subscription, orders, revenue per currency, carts, campaigns."""
        return account_summary(db.session, g.account_id)


@blueprint.route("/engagement/reclassify")
class Reclassify(MethodView):
    @blueprint.doc(security=BEARER)
    @blueprint.response(202, JobSchema)
    def post(self) -> dict[str, Any]:
        """Reclassify every contact of the account in the background; answers with the job to follow."""
        job = enqueue(
            current_settings(),
            COMPUTE,
            classify_account_job,
            g.account_id,
            meta={"account_id": g.account_id},
        )
        return _job(job)


@blueprint.route("/jobs/<string:job_id>")
class JobStatus(MethodView):
    @blueprint.doc(security=BEARER)
    @blueprint.response(200, JobSchema)
    def get(self, job_id: str) -> dict[str, Any]:
        """The state of a job this account started."""
        job = fetch_job(current_settings(), job_id)
        if job is None or job.meta.get("account_id") != g.account_id:
            fail(404, "no such job", "not_found")
        return _job(job)


def _job(job: Any) -> dict[str, Any]:
    status = job.get_status(refresh=True)
    return {
        "id": job.id,
        "status": status.value if status else "unknown",
        "result": job.return_value() if status and status.value == "finished" else None,
        "enqueued_at": job.enqueued_at,
        "ended_at": job.ended_at,
    }


class DataExportSummarySchema(Schema):
    id = fields.Integer(required=True)
    store_id = fields.Integer(allow_none=True)
    customer_id = fields.String(allow_none=True)
    request_id = fields.String(allow_none=True)
    created_at = fields.String(required=True)


class DataExportSchema(DataExportSummarySchema):
    document = fields.Dict(required=True)


@blueprint.route("/data-requests")
class DataRequests(MethodView):
    @blueprint.doc(security=BEARER)
    @blueprint.response(200, DataExportSummarySchema(many=True))
    def get(self) -> list[dict[str, Any]]:
        """Customers' data requests received from the platform, each prepared as an export, newest first."""
        return privacy.list_exports(db.session, g.account_id)


@blueprint.route("/data-requests/<int:export_id>")
class DataRequest(MethodView):
    @blueprint.doc(security=BEARER)
    @blueprint.response(200, DataExportSchema)
    def get(self, export_id: int) -> dict[str, Any]:
        """Everything stored about the customer of one data request, to hand over to them."""
        export = privacy.get_export(db.session, g.account_id, export_id)
        if export is None:
            fail(404, "no such data request", "not_found")
        return export


class BackfillStageSchema(Schema):
    id = fields.Integer(required=True)
    stage = fields.String(required=True, metadata={"description": "customers, orders or checkouts"})
    status = fields.String(
        required=True,
        metadata={
            "description": "pending, starting, running, importing, completed or failed; a failed stage "
            "is not retried (a new backfill starts over)"
        },
    )
    records = fields.Integer(required=True, metadata={"description": "records stored"})
    invalid = fields.Integer(required=True, metadata={"description": "records refused as invalid"})
    error = fields.String(
        allow_none=True,
        metadata={
            "description": "why the stage failed, as the platform said; for a stage read page by page "
            "that did not fail, the first record refused (page, position, id, reason)"
        },
    )
    page = fields.Integer(
        allow_none=True, metadata={"description": "read page by page (WooCommerce): the next page to read"}
    )
    pages = fields.Integer(
        allow_none=True, metadata={"description": "read page by page: the collection's pages, as last said"}
    )
    started_at = fields.String(required=True)
    finished_at = fields.String(allow_none=True)


class StoreBackfillSchema(Schema):
    store_id = fields.Integer(required=True)
    state = fields.String(
        required=True, metadata={"description": "the store's connection: connected or disconnected"}
    )
    reconciled_at = fields.String(allow_none=True, metadata={"description": "the last reconciliation"})
    backfill = fields.List(fields.Nested(BackfillStageSchema), required=True)


@blueprint.route("/stores/<int:store_id>/backfill")
class StoreBackfill(MethodView):
    @blueprint.doc(security=BEARER)
    @blueprint.response(200, StoreBackfillSchema)
    def get(self, store_id: int) -> dict[str, Any]:
        """A store's backfill stages (status, records, error) and its last reconciliation."""
        owned_store(store_id)
        store = db.session.get(Store, store_id)
        if store is None:
            fail(404, f"no store {store_id}", "not_found")
        return store_backfill(db.session, store)
