"""The Segments pages in a browser, in English and Polish: the list, a segment, why a member is in it,
an export requested and a segment deleted after a confirmation, each page checked by axe-core."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Dialog, Page, expect
from sqlalchemy import func, select

from integration.accounts import create_account
from integration.audiences import segments
from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import (
    Contact,
    EngagementStatus,
    Segment,
    SegmentExport,
    SubscriptionStatus,
    User,
)
from tests.browser import helpers
from tests.browser.dataset import add_owner
from tests.browser.test_standalone import sign_in

EMAIL = "segments-owner@example.com"
VIP = {
    "all": [{"tag": "vip"}, {"any": [{"subscription": ["subscribed"]}, {"not": {"engagement": ["blocked"]}}]}]
}


@pytest.fixture
def shop_data(settings: Settings) -> dict[str, Any]:
    """An account of six contacts, four of them VIPs, with a saved segment of the VIPs and its owner."""
    with session_scope(settings.database_url) as session:
        account_id = create_account(session, "Pracownia Lniana", "Europe/Warsaw").id
        people = [
            Contact(
                account_id=account_id,
                email=f"person{n}@example.com",
                first_name=f"Person{n}",
                subscription_status=SubscriptionStatus.SUBSCRIBED if n % 2 else SubscriptionStatus.UNKNOWN,
                engagement_status=EngagementStatus.ENGAGED,
                tags=["vip"] if n < 4 else [],
            )
            for n in range(6)
        ]
        session.add_all(people)
        session.flush()
        saved = segments.save(session, account_id, name="VIPs", raw_filter=VIP, description="Our best people")
        segments.refresh_account(session, account_id)
        ids = [c.id for c in people]
    add_owner(settings.database_url, account_id, EMAIL)
    return {"account": account_id, "segment": saved.id, "ids": ids}


def _set_locale(settings: Settings, locale: str) -> None:
    with session_scope(settings.database_url) as session:
        user = session.scalars(select(User).where(User.email == EMAIL)).one()
        user.locale = locale


@pytest.mark.parametrize("locale", ["en", "pl"])
def test_segments_list_page_why_export_and_delete(
    page: Page, settings: Settings, shop_data: dict[str, Any], locale: str
) -> None:
    _set_locale(settings, locale)
    page.set_extra_http_headers({"Accept-Language": locale})
    sign_in(page, EMAIL)
    segment_id = shop_data["segment"]

    # The list: predefined segments first, the saved one last, reached from the navigation.
    page.locator("nav[aria-label] a[href='/admin/segments']").click()
    expect(page.locator("html")).to_have_attribute("lang", locale)
    links = page.locator("#segment-list [data-segment]")
    expect(links.last).to_have_attribute("href", f"/admin/segments/{segment_id}")
    expect(links.first).not_to_have_attribute("href", f"/admin/segments/{segment_id}")
    helpers.screenshot(page, f"segments-{locale}")
    helpers.assert_accessible(page)
    helpers.assert_inputs_labelled(page)

    # A segment: its definition in words, its reach, its members.
    with page.expect_navigation():
        links.last.click()
    expect(page.locator("#definition-tree [data-path]")).to_have_count(6)
    expect(page.locator("[data-reach]")).to_contain_text("4")  # person0-3 are VIPs, all unblocked
    expect(page.locator("#member-table [data-why-link]")).to_have_count(4)
    helpers.assert_accessible(page)
    helpers.assert_inputs_labelled(page)

    # Why: the first member's conditions, each marked in words.
    with page.expect_navigation():
        page.locator("#member-table [data-why-link]").first.click()
    why = page.locator("#why-tree")
    expect(why.locator("[data-path='0']")).to_have_attribute("data-met", "yes")
    expect(why.locator("[data-met='no']")).to_have_count(2)  # person0 is not subscribed; its negation fails
    expect(why.locator(".mark-met").first).to_be_visible()
    helpers.screenshot(page, f"segment-why-{locale}")
    helpers.assert_accessible(page)

    # An export: requested by fetch, the merchant told where the file will come.
    page.locator("#export-form button[type=submit]").click()
    expect(page.locator("#live")).to_be_visible()
    with session_scope(settings.database_url) as session:
        requested = session.scalar(
            select(func.count()).select_from(SegmentExport).where(SegmentExport.segment_id == segment_id)
        )
    assert requested == 1

    # Delete: nothing happens when the merchant says no; after yes, the segment is gone and the list shows.
    questions: list[str] = []

    def refuse(dialog: Dialog) -> None:
        questions.append(dialog.message)
        dialog.dismiss()

    def accept(dialog: Dialog) -> None:
        questions.append(dialog.message)
        dialog.accept()

    page.once("dialog", refuse)
    before = page.url
    page.locator("#delete-form button[type=submit]").click()
    assert page.url == before
    assert _exists(settings, segment_id)
    page.once("dialog", accept)
    with page.expect_navigation(url="**/admin/segments"):
        page.locator("#delete-form button[type=submit]").focus()
        page.keyboard.press("Enter")
    assert len(questions) == 2
    assert "VIPs" in questions[0]
    assert not _exists(settings, segment_id)
    expect(page.locator(f"#segment-list [href='/admin/segments/{segment_id}']")).to_have_count(0)


def _exists(settings: Settings, segment_id: int) -> bool:
    with session_scope(settings.database_url) as session:
        return session.get(Segment, segment_id) is not None
