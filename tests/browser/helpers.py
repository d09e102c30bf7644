"""What browser tests check on a page: screenshots, axe-core findings, keyboard paths and labels.

Accessible names are Chromium's own (its accessibility tree, read over the DevTools protocol), so
a test sees what a screen reader would announce.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from playwright.sync_api import CDPSession, Page

HERE = Path(__file__).parent
SCREENSHOTS = HERE / "screenshots"
AXE = HERE / "vendor" / "axe.min.js"
FAILING_IMPACTS = ("serious", "critical")
# A page with more stops than this is taken to trap the focus (or to be far too long to tab through).
TAB_LIMIT = 200
# Controls a person types into or chooses with, which need a label of their own.
FORM_CONTROLS = (
    "input:not([type=hidden]):not([type=submit]):not([type=button]):not([type=reset]):not([type=image]),"
    " select, textarea, [contenteditable=''], [contenteditable=true], [role=textbox], [role=combobox],"
    " [role=listbox], [role=searchbox], [role=spinbutton], [role=slider], [role=checkbox], [role=radio],"
    " [role=switch]"
)

# The deepest focused element, through open shadow roots (Polaris components keep their controls there).
DEEPEST_FOCUS = """() => {
  let element = document.activeElement;
  while (element && element.shadowRoot && element.shadowRoot.activeElement) {
    element = element.shadowRoot.activeElement;
  }
  return element === document.body ? null : element;
}"""


def screenshot(page: Page, name: str) -> Path:
    """Save a full-page PNG of `page` as tests/browser/screenshots/<name>.png; return its path."""
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{re.sub(r'[^A-Za-z0-9_.-]+', '-', name).strip('-.')}.png"
    page.screenshot(path=path, full_page=True)
    return path


@functools.cache
def _axe_source() -> str:
    return AXE.read_text(encoding="utf-8")


def axe_violations(page: Page, *, disable: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Run axe-core on the page as it is now; return its violations (every impact)."""
    # Evaluated through the DevTools protocol, which a page's Content-Security-Policy does not stop.
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(_axe_source() + "\n;undefined")
    options = {"resultTypes": ["violations"], "rules": {rule: {"enabled": False} for rule in disable}}
    violations: list[dict[str, Any]] = page.evaluate(
        "async (options) => (await axe.run(document, options)).violations", options
    )
    return violations


def assert_accessible(page: Page, *, disable: tuple[str, ...] = ()) -> None:
    """Fail listing every axe-core violation of serious or critical impact (rule, target, help).

    `disable` turns rules off by id; say in the test why each one does not apply.
    """
    failing = [v for v in axe_violations(page, disable=disable) if v.get("impact") in FAILING_IMPACTS]
    if not failing:
        return
    lines = [f"{len(failing)} serious or critical accessibility violations on {page.url}:"]
    for violation in failing:
        rule = f"{violation['id']} [{violation['impact']}]"
        lines.append(f"- {rule}: {violation['help']} ({violation['helpUrl']})")
        for node in violation["nodes"]:
            summary = " ".join(str(node.get("failureSummary", "")).split())
            lines.append(f"    {' > '.join(map(str, node['target']))}: {summary[:300]}")
    raise AssertionError("\n".join(lines))


def _ax_node(cdp: CDPSession, object_id: str) -> dict[str, Any]:
    """Chromium's accessibility node of the element `object_id` stands for."""
    nodes = cdp.send("Accessibility.getPartialAXTree", {"objectId": object_id, "fetchRelatives": False})
    node: dict[str, Any] = nodes["nodes"][0]
    return node


def _name(node: dict[str, Any]) -> str:
    return str(node.get("name", {}).get("value", "")).strip()


def _name_source(node: dict[str, Any]) -> str | None:
    """Where the node's name comes from: "label" (a label element, aria-label or aria-labelledby, or
    the contents), "placeholder" or "title" (which are no label: a placeholder goes as one types, a
    title shows on hover only), or None without a name."""
    if not _name(node):
        return None
    for source in node.get("name", {}).get("sources", []):
        if "value" in source and not source.get("superseded"):
            if source.get("type") == "placeholder":
                return "placeholder"
            if source.get("attribute") == "title":
                return "title"
            return "label"
    return "label"


def tab_through(page: Page, *, limit: int = TAB_LIMIT) -> list[str]:
    """Press Tab from the start of the page until focus leaves it or comes round again; return the
    accessible name of each element focused on the way ("" for one without a name)."""
    cdp = page.context.new_cdp_session(page)
    try:
        # Focus a stand-in at the top of the body and remove it: Tab then starts from the beginning,
        # whatever the test clicked before.
        page.evaluate(
            """() => {
              const start = document.createElement("span");
              start.tabIndex = -1;
              document.body.prepend(start);
              start.focus();
              start.remove();
              window.__tabThroughSeen = new WeakSet();
            }"""
        )
        names: list[str] = []
        for _ in range(limit):
            page.keyboard.press("Tab")
            focused = cdp.send(
                "Runtime.evaluate",
                {
                    "expression": f"""(() => {{
                      const element = ({DEEPEST_FOCUS})();
                      if (!element || window.__tabThroughSeen.has(element)) return null;
                      window.__tabThroughSeen.add(element);
                      return element;
                    }})()"""
                },
            )["result"]
            if focused.get("subtype") == "null":
                return names
            names.append(_name(_ax_node(cdp, focused["objectId"])))
        raise AssertionError(f"focus did not leave {page.url} after {limit} presses of Tab: {names[-10:]}")
    finally:
        cdp.detach()


def unlabelled_inputs(page: Page) -> list[str]:
    """Describe every visible form control whose accessible name is empty or comes only from its
    placeholder or title (a label element, aria-label or aria-labelledby is needed)."""
    cdp = page.context.new_cdp_session(page)
    try:
        query = f"Array.from(document.querySelectorAll({json.dumps(FORM_CONTROLS)}))"
        found = cdp.send("Runtime.evaluate", {"expression": query})["result"]
        properties = cdp.send("Runtime.getProperties", {"objectId": found["objectId"], "ownProperties": True})
        elements = [p["value"]["objectId"] for p in properties["result"] if p["name"].isdigit()]
        unlabelled = []
        for object_id in elements:
            node = _ax_node(cdp, object_id)
            if node.get("ignored"):  # not rendered (display: none, hidden): nobody reaches it
                continue
            source = _name_source(node)
            if source == "label":
                continue
            html = cdp.send(
                "Runtime.callFunctionOn",
                {
                    "objectId": object_id,
                    "functionDeclaration": "function () { return this.outerHTML.slice(0, 160); }",
                    "returnByValue": True,
                },
            )["result"]["value"]
            how = f"named only by its {source}" if source else "no accessible name"
            unlabelled.append(f"{html} ({how})")
        return unlabelled
    finally:
        cdp.detach()


def assert_inputs_labelled(page: Page) -> None:
    """Fail naming every visible form control without a label of its own."""
    unlabelled = unlabelled_inputs(page)
    if unlabelled:
        raise AssertionError(f"form controls without a label on {page.url}:\n" + "\n".join(unlabelled))
