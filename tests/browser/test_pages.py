"""Every admin page in English and Polish on the realistic dataset: a full-page screenshot of each,
and the page checks (axe-core, labels, Tab order) in both languages.

The screenshots land in tests/browser/screenshots/. To refresh the committed ones in
docs/screenshots/, run

    STOREPULSE_WRITE_SCREENSHOTS=1 pytest tests/browser/test_pages.py

which copies the curated set (`DOCUMENTED`) there as well.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import func, select

from integration.accounts import create_account
from integration.analytics import rfm
from integration.audiences import destinations, segments
from integration.campaigns.sends import SendInput, record_sends, save_campaign
from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import (
    CampaignChannel,
    CampaignSend,
    Contact,
    DestinationKind,
    Order,
    SendStatus,
    Store,
    SyncMode,
    SyncRun,
    SyncRunStatus,
    User,
)
from integration.store.types import utcnow
from tests.browser import helpers
from tests.browser.dataset import Merchant, add_owner, imported_shop, merchant
from tests.browser.harness import EmbeddedPage, LiveServer
from tests.browser.test_carts import add_recent_carts
from tests.browser.test_setup import customers_csv
from tests.browser.test_standalone import sign_in
from tests.browser.test_storefront import add_storefront_visits
from tests.support.builders import bearer

DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
WRITE_VARIABLE = "STOREPULSE_WRITE_SCREENSHOTS"
LOCALES = ("en", "pl", "es")
# The shots committed under docs/screenshots/ (the run's names, without .png).
DOCUMENTED = (
    "signin-en",
    "contacts-en",
    "contacts-pl",
    "contacts-empty-en",
    "setup-en",
    "setup-stores-en",
    "setup-stores-woocommerce-pl",
    "woocommerce-keys-refused-pl",
    "import-en",
    "storefront-en",
    "storefront-pl",
    "setup-keys-en",
    "setup-email-en",
    "settings-en",
    "settings-pl",
    "users-en",
    "profile-pl",
    "contacts-embedded",
    "contact-list-en",
    "contact-list-pl",
    "segments-en",
    "segment-en",
    "segment-pl",
    "segment-editor-en",
    "carts-en",
    "carts-pl",
    "campaigns-en",
    "campaign-en",
    "leaderboard-en",
    "leaderboard-pl",
    "rfm-en",
    "rfm-pl",
    "rfm-es",
    "contacts-es",
    "syncs-en",
    "sync-en",
    "customer-en",
    "customer-pl",
    "notifications-en",
)

# name: (path, English names of controls that Tab must reach besides the frame's).
PAGES: dict[str, tuple[str, tuple[str, ...]]] = {
    "contacts": ("/admin/", ("Subscribed", "Unknown", "Both", "The numbers behind the chart")),
    "contact-list": (
        "/admin/contacts/list",
        ("Search by email or name", "Subscription status", "Sort order", "Show", "Engaged", "Next page"),
    ),
    "segments": ("/admin/segments", ("Segments", "Engaged subscribers", "Frequent buyers")),
    "segment": ("/admin/segments/{segment}", ("Export CSV", "Delete")),
    "segment-editor": ("/admin/segments/{segment}/edit", ("Name", "Save segment")),
    "campaigns": ("/admin/campaigns", ("Autumn sale", "Linen letter")),
    "campaign": ("/admin/campaigns/{campaign}", ("All campaigns", "Version 2,")),
    "rfm": ("/admin/rfm", ("R5 F5", "R1 F1", "The numbers of each cell", "Save the grid")),
    "syncs": (
        "/admin/syncs",
        ("Loyal buyers to Our CRM", "Segment", "Create the sync, paused", "Mailchimp audience", "URL"),
    ),
    "sync": ("/admin/syncs/{sync}", ("Pause", "Run now", "Show the dry run", "Delete the sync")),
    "sync-destination": (
        "/admin/syncs/destinations/{destination}",
        ("Signing secret", "Replace the credentials", "Delete the destination"),
    ),
    "customer": ("/admin/contacts/{contact}", ("Message customer",)),
    "carts": (
        "/admin/carts",
        ("From", "To", "Show", "Last 7 days", "All carts", "Recovery link", "Copy the recovery link of"),
    ),
    "leaderboard": (
        "/admin/leaderboard?time_frame=last_year",
        ("Store", "Rank by", "Time frame", "Show", "Message customer"),
    ),
    "setup": ("/admin/setup", ("Overview", "Stores", "API keys", "Email tools", "Settings")),
    "setup-stores": (
        "/admin/setup/stores",
        ("Name", "Data comes from", "Currency", "Time zone", "Add the store"),
    ),
    "import": ("/admin/setup/stores/{store}/import?import={import_id}", ("The file holds", "CSV file")),
    "import-check": (
        "/admin/setup/stores/{store}/import?import={checked}",
        ("The file holds", "Encoding", "Check again", "Import", "Upload another file"),
    ),
    "storefront": ("/admin/setup/storefront", ("Shop addresses", "Save the addresses")),
    "setup-keys": ("/admin/setup/keys", ("Name", "Make the key")),
    "setup-email": ("/admin/setup/email", ("Tool", "SendGrid verification key", "Connect")),
    "settings": (
        "/admin/setup/settings",
        ("Time frame in days", "From address", "Password", "Save the sender"),
    ),
    "users": ("/admin/users", ("Email", "Role", "Create invitation")),
    "profile": ("/admin/profile", ("Current password", "New password", "Language of the admin")),
    "notifications": ("/admin/notifications", ("Mark all read", "Open the import", "Mark read: The import")),
}
FRAME = (
    "Skip to content",
    "Contacts",
    "Contact list",
    "Segments",
    "Leaderboard",
    "RFM",
    "Carts",
    "Campaigns",
    "Syncs",
    "Setup",
    "Sign out",
)
# Every control a visitor can see and use, each of which must be one Tab stop; and, as Chromium
# makes them focusable, the boxes that scroll and hold no control.
CONTROLS = """() => {
  const selector = 'a[href], button, input:not([type=hidden]), select, textarea, summary, '
    + '[tabindex]:not([tabindex="-1"])';
  const shown = (e) => e.getClientRects().length > 0 && getComputedStyle(e).visibility !== "hidden";
  const controls = Array.from(document.querySelectorAll(selector)).filter((e) => !e.disabled && shown(e));
  const scrollers = Array.from(document.querySelectorAll("body *")).filter((e) => {
    const style = getComputedStyle(e);
    const scrolls = (/(auto|scroll)/.test(style.overflowX) && e.scrollWidth > e.clientWidth)
      || (/(auto|scroll)/.test(style.overflowY) && e.scrollHeight > e.clientHeight);
    return scrolls && shown(e) && !e.querySelector(selector) && !e.matches(selector);
  });
  return controls.length + scrollers.length;
}"""


def write_docs() -> bool:
    """Whether this run refreshes docs/screenshots/."""
    return os.environ.get(WRITE_VARIABLE) == "1"


def _uploaded(
    page: Page,
    live_server: LiveServer,
    settings: Settings,
    store_id: int,
    tmp: Path,
    endpoint: str,
    status: int,
) -> int:
    """Upload the customers file to the store's `endpoint` through the API; return the import's id."""
    with session_scope(settings.database_url) as session:
        headers = bearer(session, session.get(Store, store_id).account_id)  # type: ignore[union-attr]
    upload = customers_csv(tmp)
    answer = page.request.post(
        f"{live_server.url}/api/v1/stores/{store_id}/{endpoint}",
        headers=headers,
        multipart={
            "kind": "customers",
            "file": {"name": upload.name, "mimeType": "text/csv", "buffer": upload.read_bytes()},
        },
    )
    assert answer.status == status, answer.text()
    import_id: int = answer.json()["id"]
    return import_id


def finished_import(page: Page, live_server: LiveServer, settings: Settings, store_id: int, tmp: Path) -> int:
    """Upload the customers file to the store through the API and import it; return the import's id."""
    return _uploaded(page, live_server, settings, store_id, tmp, "imports", 202)


def checked_import(page: Page, live_server: LiveServer, settings: Settings, store_id: int, tmp: Path) -> int:
    """Upload the customers file to the store to be checked, not imported; return the import's id."""
    return _uploaded(page, live_server, settings, store_id, tmp, "imports/check", 201)


def tour_subjects(settings: Settings, account_id: int) -> tuple[int, int]:
    """A saved segment (an AND holding an OR) and the customer with the most orders, to show."""
    with session_scope(settings.database_url) as session:
        rfm.compute(session, account_id)  # as the scheduler's job keeps it
        segment = segments.save(
            session,
            account_id,
            name="Loyal buyers",
            description="Subscribed buyers of two or more orders, or who spent 200 EUR",
            raw_filter={
                "all": [
                    {"subscription": ["subscribed"]},
                    {
                        "any": [
                            {"orders_count": {"min": 2}},
                            {"total_spent": {"currency": "EUR", "min": "200"}},
                        ]
                    },
                ]
            },
        )
        contact_id = session.scalar(
            select(Order.contact_id)
            .join(Contact, Contact.id == Order.contact_id)
            .where(Contact.account_id == account_id, Order.contact_id.is_not(None))
            .group_by(Order.contact_id)
            .order_by(func.count().desc(), Order.contact_id)
            .limit(1)
        )
        assert contact_id is not None
        segments.refresh_account(session, account_id)  # as the hourly job keeps them
        return segment.id, contact_id


def tour_campaigns(settings: Settings, account_id: int) -> int:
    """An email of two versions and a letter, sent before the first orders of the customers who
    ordered (some credited, some too early to count), opened, clicked and scanned; the email's id."""
    with session_scope(settings.database_url) as session:
        firsts = session.execute(
            select(Order.contact_id, func.min(Order.created_at))
            .join(Contact, Contact.id == Order.contact_id)
            .where(Contact.account_id == account_id)
            .group_by(Order.contact_id)
            .order_by(Order.contact_id)
            .limit(60)
        ).all()
        email = save_campaign(
            session,
            account_id,
            channel=CampaignChannel.EMAIL,
            name="Autumn sale",
            preview=b"<html><body><h1>Autumn sale</h1><p>Linen shirts, 20% off.</p></body></html>",
            content_type="text/html; charset=utf-8",
        )
        sends = [
            SendInput(
                status=SendStatus.DELIVERED if n % 5 else SendStatus.FAILED,
                contact_id=contact_id,
                sent_at=first - timedelta(days=2 + n % 4 if n % 3 else 40),
                delivered_at=first - timedelta(days=1 + n % 4 if n % 3 else 39) if n % 5 else None,
            )
            for n, (contact_id, first) in enumerate(firsts[:20])
        ]
        record_sends(session, account_id, email.id, sends)
        save_campaign(
            session,
            account_id,
            channel=CampaignChannel.EMAIL,
            external_id=email.external_id,
            name="Autumn sale",
            preview=b"<html><body><h1>Autumn sale, last days</h1><p>Linen shirts, 20% off.</p></body></html>",
            content_type="text/html; charset=utf-8",
        )
        record_sends(
            session,
            account_id,
            email.id,
            [
                SendInput(status=SendStatus.SENT, contact_id=contact_id, sent_at=first - timedelta(days=1))
                for contact_id, first in firsts[20:30]
            ],
        )
        letter = save_campaign(
            session,
            account_id,
            channel=CampaignChannel.LETTER,
            name="Linen letter",
            preview=b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n",
            content_type="application/pdf",
        )
        record_sends(
            session,
            account_id,
            letter.id,
            [
                SendInput(
                    status=SendStatus.DELIVERED, contact_id=contact_id, sent_at=first - timedelta(days=6)
                )
                for contact_id, first in firsts[30:45]
            ],
        )
        clickers = {c for c, _ in firsts[:8]}
        scanners = {c for c, _ in firsts[30:36]}
        for send in session.scalars(select(CampaignSend).where(CampaignSend.status != SendStatus.FAILED)):
            went = send.delivered_at or send.sent_at
            assert went is not None
            if send.campaign_id == email.id:
                send.opened_at = went + timedelta(hours=3)
                if send.contact_id in clickers:
                    send.clicked_at = went + timedelta(hours=4)
            elif send.contact_id in scanners:
                send.scanned_at = went + timedelta(days=2)
        return email.id


def tour_sync(settings: Settings, account_id: int, segment_id: int) -> tuple[int, int]:
    """A signed-webhook destination and a sync of the segment to it with a run behind it, one of
    whose contacts the receiver refused; return the destination's and the sync's ids."""
    with session_scope(settings.database_url) as session:
        made = destinations.create_destination(
            session,
            account_id,
            settings.encryption_keys,
            kind=DestinationKind.WEBHOOK,
            name="Our CRM",
            config={"url": "https://crm.example.com/storepulse"},
            credentials={"secret": "a-shared-secret-of-the-crm-42"},
        )
        created = destinations.create_sync(
            session,
            account_id,
            segment_id=segment_id,
            destination_id=made.id,
            mode=SyncMode.AUDIENCE,
            tag_prefix=settings.tag_prefix,
            start=True,
        )
        refused = session.scalar(select(func.min(Contact.id)).where(Contact.account_id == account_id))
        finished = utcnow()
        session.add(
            SyncRun(
                sync_id=created.id,
                started_at=finished - timedelta(seconds=3),
                finished_at=finished,
                status=SyncRunStatus.PARTIAL,
                adds=41,
                failed=1,
                errors=[{"contact_id": refused, "action": "add", "error": "unknown in the CRM"}],
            )
        )
        return made.id, created.id


def set_locale(settings: Settings, email: str, locale: str) -> None:
    with session_scope(settings.database_url) as session:
        user = session.query(User).filter_by(email=email).one()
        user.locale = locale


def test_every_page_in_english_and_polish(
    page: Page,
    live_server: LiveServer,
    settings: Settings,
    run_worker: Callable[[], bool],
    tmp_path: Path,
) -> None:
    shop_owner: Merchant = merchant(settings.database_url)
    import_id = finished_import(page, live_server, settings, shop_owner.store_ids[0], tmp_path)
    run_worker()
    checked = checked_import(page, live_server, settings, shop_owner.store_ids[0], tmp_path)
    segment_id, contact_id = tour_subjects(settings, shop_owner.account_id)
    pln_store, eur_store = shop_owner.store_ids[:2]
    add_recent_carts(settings.database_url, shop_owner.account_id, eur_store, pln_store)
    add_storefront_visits(
        settings.database_url, eur_store, [f"customer{i}@example.com" for i in range(1, 40, 2)]
    )
    campaign_id = tour_campaigns(settings, shop_owner.account_id)
    destination_id, sync_id = tour_sync(settings, shop_owner.account_id, segment_id)
    problems: list[str] = []
    stops_by_page: dict[str, list[int]] = {}

    for locale in LOCALES:
        # Signed out: the language comes from the browser.
        page.set_extra_http_headers({"Accept-Language": locale})
        page.goto("/admin/signin")
        helpers.screenshot(page, f"signin-{locale}")
        problems += _checked(page, f"signin-{locale}", ())

        set_locale(settings, shop_owner.email, locale)
        sign_in(page, shop_owner.email)
        expect(page.locator("html")).to_have_attribute("lang", locale)
        for name, (path, controls) in PAGES.items():
            answer = page.goto(
                path.format(
                    store=shop_owner.store_ids[0],
                    import_id=import_id,
                    segment=segment_id,
                    contact=contact_id,
                    campaign=campaign_id,
                    sync=sync_id,
                    destination=destination_id,
                    checked=checked,
                )
            )
            assert answer is not None
            assert answer.ok, f"{name}: {answer.status}"  # every page of the tour exists
            shot = f"{name}-{locale}"
            assert answer.status == 200, shot
            if name == "contacts":
                page.locator("#group-engaged details summary").click()  # the movements, shown once
            if name == "segment-editor":  # the live count and each condition's words, once answered
                expect(page.locator("[data-count]")).to_have_attribute("data-count", re.compile(r"^\d+$"))
            helpers.screenshot(page, shot)
            problems += _checked(page, shot, controls if locale == "en" else ())
            stops_by_page.setdefault(name, []).append(page.evaluate(CONTROLS))
        page.goto("/admin/")
        with page.expect_navigation():
            page.locator("form[action$='/signout'] button").click()

    # The empty state of a new account, in English.
    empty = "new-owner@example.com"
    with session_scope(settings.database_url) as session:
        account_id = create_account(session, "Nowy Sklep", "Europe/Warsaw").id
    add_owner(settings.database_url, account_id, empty, "en")
    page.set_extra_http_headers({"Accept-Language": "en"})
    sign_in(page, empty)
    helpers.screenshot(page, "contacts-empty-en")
    problems += _checked(page, "contacts-empty-en", ())

    # A page has the same stops in either language: a translation does not hide a control.
    for name, counts in stops_by_page.items():
        if len(set(counts)) != 1:
            problems.append(f"{name}: {counts} Tab stops in {LOCALES}")
    assert not problems, "\n".join(problems)
    if write_docs():
        _copy_documented()


def _checked(page: Page, shot: str, controls: tuple[str, ...]) -> list[str]:
    """The page checks' findings on the page as it is, each naming the shot."""
    found = []
    for check in (
        lambda: helpers.assert_accessible(page),
        lambda: helpers.assert_inputs_labelled(page),
    ):
        try:
            check()
        except AssertionError as failed:
            found.append(f"{shot}: {failed}")
    stops = helpers.tab_through(page)
    visible = page.evaluate(CONTROLS)
    if len(stops) != visible:
        found.append(f"{shot}: {visible} controls on the page but {len(stops)} Tab stops ({stops})")
    if controls:
        for control in (*FRAME, *controls):
            if not any(stop == control or stop.startswith(control + " ") for stop in stops):
                found.append(f"{shot}: Tab never reaches {control!r} ({stops})")
    return found


def _copy_documented() -> None:
    DOCS.mkdir(parents=True, exist_ok=True)
    for name in DOCUMENTED:
        source = helpers.SCREENSHOTS / f"{name}.png"
        if source.exists():
            shutil.copyfile(source, DOCS / f"{name}.png")


@pytest.fixture
def shop_data(settings: Settings, shop: int) -> Merchant:
    """The connected Shopify store's account, its history imported: the realistic dataset."""
    return imported_shop(settings.database_url, shop)


def test_the_embedded_markup_of_the_contacts_page(embedded_page: EmbeddedPage, shop_data: Merchant) -> None:
    """Unstyled offline (Polaris loads from Shopify's CDN only): the shot shows the markup's content."""
    embedded_page.goto("/admin/")
    expect(embedded_page.page.locator("s-page")).to_have_count(1)
    helpers.screenshot(embedded_page.page, "contacts-embedded")
    if write_docs():
        _copy_documented()
