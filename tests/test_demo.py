"""The demo: seeded data through the inbox and a real worker process, on both setups."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from integration import demo
from tests.jobs.test_separate_worker import storepulse

CONTACTS = 300
NOW = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def test_the_generator_is_seeded() -> None:
    first, again = demo.generate(200, seed=3, now=NOW), demo.generate(200, seed=3, now=NOW)
    other = demo.generate(200, seed=4, now=NOW)
    assert first.phases == again.phases
    assert first.phases != other.phases


def test_the_generated_history_has_every_kind_of_record() -> None:
    data = demo.generate(2000, seed=7, now=NOW)
    records = [r for p in data.phases for topics in p.values() for r in topics.get("events", [])]
    kinds = {r["type"] if r["type"] != "bounce" else f"{r['bounce_type']}_bounce" for r in records}
    assert kinds == {
        "product_view",
        "add_to_cart",
        "email_open",
        "email_click",
        "qr_scan",
        "hard_bounce",
        "soft_bounce",
        "spam_complaint",
        "unsubscribe",
    }
    assert any(r.get("machine_open") for r in records)
    orders = [r for p in data.phases for topics in p.values() for r in topics.get("orders", [])]
    assert {o["currency"] for o in orders} == {"EUR", "USD"}
    assert min(datetime.fromisoformat(o["created_at"]) for o in orders) < NOW.replace(year=2025)
    campaigns = data.phases[0][0]["campaigns"]
    assert {c["channel"] for c in campaigns} == {"email", "letter"}


def _expected_revenue(data: demo.DemoData) -> dict[str, Decimal]:
    revenue: dict[str, Decimal] = {}
    for topics in data.phases[1].values():
        for o in topics["orders"]:
            if o.get("cancelled_at") is None and o["financial_status"] not in ("voided", "refunded"):
                revenue[o["currency"]] = revenue.get(o["currency"], Decimal(0)) + Decimal(o["total_price"])
    return revenue


@pytest.fixture(params=["embedded", "servers"])
def demo_env(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    env = {"PATH": "/usr/bin:/bin", "STOREPULSE_INSTANCE_PATH": str(tmp_path / "instance")}
    if request.param == "servers":
        env |= {
            "DATABASE_URL": request.getfixturevalue("postgres_url"),
            "REDIS_URL": request.getfixturevalue("redis_url"),
            "SECRET_KEY": "demo-secret-key-0123456789",
            "STOREPULSE_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        }
    return env


def test_the_demo_builds_an_account_and_prints_its_summary(demo_env: dict[str, str]) -> None:
    result = storepulse("demo", "--contacts", str(CONTACTS), "--json", env=demo_env)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout)
    generated = demo.generate(CONTACTS, seed=7)

    contacts = summary["contacts"]
    assert contacts["total"] == CONTACTS
    groups = contacts["by_engagement"]
    assert set(groups) == {"engaged", "unengaged", "blocked"}
    assert sum(sum(g.values()) for g in groups.values()) == CONTACTS
    assert set(groups["engaged"]) == {"subscribed", "unknown", "unsubscribed"}

    assert summary["orders"]["total"] == generated.count(1)
    revenue = {r["currency"]: Decimal(r["amount"]) for r in summary["orders"]["revenue"]}
    assert revenue == _expected_revenue(generated)
    assert summary["checkouts"]["recovered"] > 0
    assert summary["checkouts"]["abandoned"] > 0
    assert summary["campaigns"] == len(generated.phases[0][0]["campaigns"])
    assert summary["api_key"].startswith("sp_")


def test_running_the_demo_again_starts_over(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "STOREPULSE_INSTANCE_PATH": str(tmp_path / "instance")}
    first = json.loads(storepulse("demo", "--contacts", "120", "--json", env=env).stdout)
    second = json.loads(storepulse("demo", "--contacts", "120", "--json", env=env).stdout)
    assert first["contacts"]["total"] == second["contacts"]["total"] == 120
    assert first["orders"]["total"] == second["orders"]["total"]
