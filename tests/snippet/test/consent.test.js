// Consent: by default nothing is stored or sent until the shop's banner grants it; a withdrawal
// drops what waits and removes the visitor id.
import assert from "node:assert/strict";
import { test } from "node:test";

import { KEY, URL_, createPage, openPage } from "../harness.js";

const VID = "storepulse_vid";

test("before consent nothing is sent and nothing is stored; consent(true) sends what waited", () => {
  const page = openPage();
  page.call("page");
  page.call("view", { product_id: "p1" });
  page.call("identify", { email: "ann@example.com" });
  page.advance(60_000);
  page.fire("window", "pagehide");
  page.hide();
  assert.equal(page.requests.length, 0);
  assert.equal(page.storage.items.size, 0);
  assert.equal(page.cookies.writes.length, 0);

  page.call("consent", true);
  page.advance(200);
  assert.equal(page.requests.length, 1);
  const events = page.events();
  assert.deepEqual(
    events.map((e) => e.type),
    ["page_view", "product_view", "identify"],
  );
  // The visitor id is made and stored only now, and every event carries it.
  const vid = page.storage.items.get(VID);
  assert.ok(vid);
  assert.ok(events.every((e) => e.visitor === vid));
  assert.equal(page.cookies.values.get(VID), vid);
  const cookie = page.cookies.writes.at(-1);
  assert.match(cookie, new RegExp(`^${VID}=${vid};`));
  assert.match(cookie, /; Max-Age=31536000(;|$)/);
  assert.match(cookie, /; Path=\/(;|$)/);
  assert.match(cookie, /; SameSite=Lax(;|$)/);
  assert.match(cookie, /; Secure$/);
});

test("the cookie is not marked Secure on a plain http page", () => {
  const page = openPage({ href: "http://shop.example.com/", init: { requireConsent: false } });
  page.call("page");
  page.advance(200);
  assert.equal(page.cookies.writes.length, 1);
  assert.doesNotMatch(page.cookies.writes[0], /Secure/);
});

test("at most 50 events wait for consent", () => {
  const page = openPage();
  for (let i = 0; i < 60; i++) page.call("view", { product_id: `p${i}` });
  page.call("consent", true);
  page.advance(1000);
  const ids = page.events().map((e) => e.product_id);
  assert.equal(ids.length, 50);
  assert.deepEqual(
    ids,
    Array.from({ length: 50 }, (_, i) => `p${i}`),
  );
});

test("consent given before init is kept", () => {
  const page = createPage().stub().load();
  page.call("consent", true);
  page.call("page");
  assert.equal(page.requests.length, 0);
  page.call("init", { key: KEY, url: URL_ });
  page.advance(200);
  assert.equal(page.events().length, 1);
});

test("consent(false) drops the waiting events, and nothing recorded while refused is sent later", () => {
  const page = openPage();
  page.call("page");
  page.call("view", { product_id: "p1" });
  page.call("consent", false);
  page.call("view", { product_id: "p2" });
  page.call("consent", true);
  page.advance(1000);
  assert.equal(page.requests.length, 0);
  assert.equal(page.storage.items.size, 0);
  assert.equal(page.cookies.writes.length, 0);

  page.call("view", { product_id: "p3" });
  page.advance(200);
  assert.deepEqual(
    page.events().map((e) => e.product_id),
    ["p3"],
  );
});

test("consent(false) stops sending, drops the queued batch and removes the stored visitor id", () => {
  const page = openPage();
  page.call("consent", true);
  page.call("page");
  page.advance(200);
  assert.equal(page.requests.length, 1);
  const vid = page.storage.items.get(VID);
  assert.ok(vid);
  assert.equal(page.cookies.values.get(VID), vid);

  page.call("view", { product_id: "queued" }); // waits for the timer
  page.call("consent", false);
  page.advance(1000);
  page.fire("window", "pagehide");
  assert.equal(page.requests.length, 1);
  assert.equal(page.storage.items.has(VID), false);
  assert.equal(page.cookies.values.has(VID), false);
  assert.match(page.cookies.writes.at(-1), new RegExp(`^${VID}=; Max-Age=0;`));

  const writes = page.cookies.writes.length;
  page.call("page");
  page.advance(1000);
  assert.equal(page.requests.length, 1);
  assert.equal(page.storage.items.size, 0);
  assert.equal(page.cookies.writes.length, writes);

  // Granted again: a new visitor id, not the removed one.
  page.call("consent", true);
  page.call("page");
  page.advance(200);
  assert.equal(page.requests.length, 2);
  const again = page.events().at(-1).visitor;
  assert.notEqual(again, vid);
  assert.equal(page.storage.items.get(VID), again);
});

test("a visitor id stored on an earlier visit is removed by consent(false)", () => {
  const page = createPage();
  page.storage.items.set(VID, "11111111-2222-4333-8444-555555555555");
  page.cookies.values.set(VID, "11111111-2222-4333-8444-555555555555");
  page.stub().load();
  page.call("init", { key: KEY, url: URL_ });
  page.call("consent", false);
  assert.equal(page.storage.items.has(VID), false);
  assert.equal(page.cookies.values.has(VID), false);
});

test("consent(false) with no visitor id writes no cookie at all", () => {
  const page = openPage();
  page.call("consent", false);
  assert.equal(page.cookies.writes.length, 0);
});

test("only consent(true) grants: other values refuse", () => {
  for (const value of ["yes", 1, undefined, {}]) {
    const page = openPage();
    page.call("page");
    page.call("consent", value);
    page.advance(1000);
    assert.equal(page.requests.length, 0, `consent(${String(value)})`);
  }
});

test("with requireConsent false events are sent at once and the id is stored; consent(false) still stops it", () => {
  const page = openPage({ init: { requireConsent: false } });
  page.call("page");
  page.advance(200);
  assert.equal(page.requests.length, 1);
  const vid = page.storage.items.get(VID);
  assert.equal(page.events()[0].visitor, vid);

  page.call("consent", false);
  page.call("page");
  page.advance(1000);
  assert.equal(page.requests.length, 1);
  assert.equal(page.storage.items.has(VID), false);
});
