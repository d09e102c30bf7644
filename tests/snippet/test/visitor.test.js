// The visitor id: first-party, random, kept in localStorage and a cookie, and in memory when the
// browser refuses both.
import assert from "node:assert/strict";
import { test } from "node:test";

import { UUID, createCookieJar, createPage, createStorage, openPage } from "../harness.js";

const VID = "storepulse_vid";

function visit(options) {
  const page = openPage({ init: { requireConsent: false }, ...options });
  page.call("page");
  page.call("view", { product_id: "p1" });
  page.advance(200);
  return page;
}

test("the id is kept across page loads sharing the browser's storage", () => {
  const storage = createStorage();
  const cookies = createCookieJar();
  const first = visit({ storage, cookies, randomUUID: false });
  const vid = first.events()[0].visitor;
  assert.match(vid, UUID);
  assert.equal(storage.items.get(VID), vid);
  assert.equal(cookies.values.get(VID), vid);

  const second = visit({ storage, cookies, randomUUID: false });
  const events = second.events();
  assert.equal(events.length, 2);
  assert.ok(events.every((e) => e.visitor === vid));
  // Event ids are per event, never the visitor's.
  const ids = [...first.events(), ...events].map((e) => e.id);
  assert.equal(new Set(ids).size, 4);
  assert.ok(!ids.includes(vid));
});

test("the cookie alone brings the id back, and localStorage gets it again", () => {
  const cookies = createCookieJar();
  const vid = visit({ cookies }).events()[0].visitor;
  const fresh = createStorage();
  const page = visit({ cookies, storage: fresh });
  assert.equal(page.events()[0].visitor, vid);
  assert.equal(fresh.items.get(VID), vid);
});

test("localStorage alone brings the id back, and the cookie gets it again", () => {
  const storage = createStorage();
  const vid = visit({ storage }).events()[0].visitor;
  const jar = createCookieJar();
  const page = visit({ storage, cookies: jar });
  assert.equal(page.events()[0].visitor, vid);
  assert.equal(jar.values.get(VID), vid);
});

test("a stored value that is not an id is replaced", () => {
  const storage = createStorage();
  storage.items.set(VID, "<script>alert(1)</script>");
  const page = visit({ storage, randomUUID: false });
  const vid = page.events()[0].visitor;
  assert.match(vid, UUID);
  assert.equal(storage.items.get(VID), vid);
});

test("storage that throws does not stop sending: the id lives in memory for the page", () => {
  for (const options of [
    { storage: createStorage({ blocked: true }), cookiesBlocked: true },
    { storageGetterThrows: true, cookiesBlocked: true },
    { storage: createStorage({ blocked: true }) },
  ]) {
    const page = visit(options);
    const events = page.events();
    assert.equal(events.length, 2);
    assert.match(events[0].visitor, UUID);
    assert.equal(events[1].visitor, events[0].visitor);
    page.call("consent", false); // removing what cannot be reached does not throw either
    page.call("consent", true);
    page.call("page");
    page.advance(200);
    assert.equal(page.requests.length, 2);
  }
});

test("without crypto.randomUUID (a page over http) ids come from crypto.getRandomValues", () => {
  const page = visit({ randomUUID: false, href: "http://shop.example.com/" });
  const events = page.events();
  for (const e of events) {
    assert.match(e.id, UUID);
    assert.match(e.visitor, UUID);
  }
  assert.notEqual(events[0].id, events[1].id);
  assert.notEqual(events[0].id, events[0].visitor);
});
