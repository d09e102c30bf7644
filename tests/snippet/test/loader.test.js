// Loading: the merchant's loader queues calls until the file runs; the file replays them in order
// and takes the stub's place, so later calls run directly.
import assert from "node:assert/strict";
import { test } from "node:test";

import { KEY, URL_, createPage, openPage } from "../harness.js";

test("calls queued by the loader are replayed in order, then the real function takes the stub's place", () => {
  const page = createPage().stub();
  const stub = page.sandbox.storepulse;
  page.call("init", { key: KEY, url: URL_ });
  page.call("page");
  page.call("view", { product_id: "p1" });
  page.call("consent", true);
  assert.equal(stub.q.length, 4);
  assert.equal(page.requests.length, 0);

  page.load();
  const real = page.sandbox.storepulse;
  assert.notEqual(real, stub);
  assert.equal(typeof real, "function");
  assert.equal(real.q, undefined);
  page.advance(200);
  assert.equal(page.requests.length, 1);
  assert.deepEqual(
    page.events().map((e) => [e.type, e.product_id]),
    [
      ["page_view", undefined],
      ["product_view", "p1"],
    ],
  );

  // Later calls go straight to the snippet, not to a queue.
  page.call("add_to_cart", { product_id: "p1", quantity: 2 });
  assert.equal(real.q, undefined);
  page.advance(200);
  assert.equal(page.requests.length, 2);
  assert.equal(page.requests[1].payload.events[0].type, "add_to_cart");
});

test("the file loaded without the loader works too", () => {
  const page = createPage().load();
  page.call("init", { key: KEY, url: URL_, requireConsent: false });
  page.call("page");
  page.advance(200);
  assert.equal(page.events().length, 1);
});

test("a second copy of the file on the page leaves the first in place", () => {
  const page = openPage({ init: { requireConsent: false } });
  const first = page.sandbox.storepulse;
  page.load();
  assert.equal(page.sandbox.storepulse, first);
  page.call("page");
  page.advance(200);
  page.hide();
  assert.equal(page.events().length, 1);
  assert.equal(page.listeners.document.visibilitychange.length, 1);
});

test("unknown commands are ignored, with one warning each", () => {
  const page = openPage({ init: { requireConsent: false } });
  page.call("track", { a: 1 });
  page.call("track", { a: 2 });
  page.call("toString");
  page.call(undefined);
  page.call("page");
  page.advance(200);
  assert.equal(page.warnings.filter((w) => w.includes("track")).length, 1);
  assert.equal(page.warnings.filter((w) => w.includes("toString")).length, 1);
  assert.equal(page.warnings.length, 3);
  assert.deepEqual(
    page.events().map((e) => e.type),
    ["page_view"],
  );
});

test("without a key and a url nothing is sent, and a later valid init is taken", () => {
  const page = createPage().stub().load();
  page.call("init", { url: URL_, requireConsent: false });
  page.call("page");
  page.advance(1000);
  assert.equal(page.requests.length, 0);
  assert.ok(page.warnings.some((w) => w.includes("init")));

  page.call("init", { key: KEY, url: URL_, requireConsent: false });
  page.advance(200);
  assert.equal(page.requests.length, 1);
  assert.equal(page.requests[0].url, URL_);
  assert.equal(page.requests[0].payload.key, KEY);
});

test("a second init does not change the key or the url", () => {
  const page = openPage({ init: { requireConsent: false } });
  page.call("init", { key: "other", url: "https://elsewhere.example/collect", requireConsent: false });
  page.call("page");
  page.advance(200);
  assert.equal(page.requests[0].url, URL_);
  assert.equal(page.requests[0].payload.key, KEY);
});
