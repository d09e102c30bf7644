// How events go out: batched (20 a request, or after 200 ms), under 16 KiB a request, as text/plain
// with keepalive, by beacon when fetch is missing or the page is hidden, at most 100 a minute.
import assert from "node:assert/strict";
import { test } from "node:test";

import { KEY, MAX_BODY, URL_, openPage } from "../harness.js";

const open = (options = {}) => openPage({ init: { requireConsent: false }, ...options });

function views(page, count, from = 0, extra = {}) {
  for (let i = from; i < from + count; i++) page.call("view", { product_id: `p${i}`, ...extra });
}

test("a request is a text/plain keepalive POST without credentials, carrying the key and the events", () => {
  const page = open();
  page.call("page");
  page.advance(200);
  assert.equal(page.requests.length, 1);
  const [request] = page.requests;
  assert.equal(request.via, "fetch");
  assert.equal(request.url, URL_);
  const { body, ...options } = request.options;
  assert.deepEqual(
    { ...options, headers: { ...options.headers } },
    {
      method: "POST",
      headers: { "Content-Type": "text/plain" },
      keepalive: true,
      credentials: "omit",
      mode: "cors",
    },
  );
  assert.equal(typeof body, "string");
  assert.deepEqual(Object.keys(request.payload), ["key", "source", "events"]);
  assert.equal(request.payload.key, KEY);
  assert.equal(request.payload.source, "snippet");
  assert.equal(request.payload.events.length, 1);
});

test("20 queued events go at once, without waiting for the timer", () => {
  const page = open();
  views(page, 19);
  assert.equal(page.requests.length, 0);
  views(page, 1, 19);
  assert.equal(page.requests.length, 1);
  assert.equal(page.requests[0].payload.events.length, 20);
  views(page, 1, 20);
  assert.equal(page.requests.length, 1); // the 21st waits for the timer
  page.advance(200);
  assert.equal(page.requests.length, 2);
  assert.deepEqual(
    page.requests[1].payload.events.map((e) => e.product_id),
    ["p20"],
  );
});

test("events recorded together go out together after 200 ms", () => {
  const page = open();
  page.call("page");
  page.advance(50);
  views(page, 2);
  page.advance(149);
  assert.equal(page.requests.length, 0);
  page.advance(1);
  assert.equal(page.requests.length, 1);
  assert.deepEqual(
    page.requests[0].payload.events.map((e) => e.type),
    ["page_view", "product_view", "product_view"],
  );
  page.advance(10_000);
  assert.equal(page.requests.length, 1);
});

test("no request body reaches 16 KiB, however large the events", () => {
  for (const textEncoder of [true, false]) {
    const href = `https://shop.example.com/products/${"é".repeat(900)}`;
    const page = open({ href, textEncoder });
    views(page, 60, 0, { title: "€".repeat(400), sku: "ß".repeat(150) });
    page.advance(200);
    const sent = page.events().map((e) => e.product_id);
    assert.deepEqual(
      sent,
      Array.from({ length: 60 }, (_, i) => `p${i}`),
    );
    assert.ok(page.requests.length > 3, `${page.requests.length} requests`);
    for (const request of page.requests) assert.ok(request.bytes < MAX_BODY, `${request.bytes} bytes`);
    if (textEncoder) {
      // Each request was as full as the limit allowed: its next event would not have fitted.
      for (let i = 0; i + 1 < page.requests.length; i++) {
        const next = Buffer.byteLength(JSON.stringify(page.requests[i + 1].payload.events[0]));
        assert.ok(page.requests[i].bytes + 1 + next >= MAX_BODY);
      }
    }
  }
});

test("without fetch, events go by sendBeacon as a text/plain Blob", () => {
  const page = open({ fetch: null });
  page.call("page");
  page.advance(200);
  assert.equal(page.requests.length, 1);
  const [request] = page.requests;
  assert.equal(request.via, "beacon");
  assert.equal(request.url, URL_);
  assert.equal(request.contentType, "text/plain");
  assert.equal(request.payload.key, KEY);
  assert.equal(request.payload.source, "snippet");
  assert.equal(request.payload.events[0].type, "page_view");
});

test("when fetch throws at once, the batch goes by sendBeacon", () => {
  const page = open({ fetch: "throw" });
  views(page, 3);
  page.advance(200);
  assert.deepEqual(
    page.requests.map((r) => [r.via, r.payload.events.length]),
    [["beacon", 3]],
  );
});

test("with neither fetch nor sendBeacon nothing breaks", () => {
  const page = open({ fetch: null, beacon: null });
  views(page, 25);
  page.advance(200);
  page.fire("window", "pagehide");
  assert.equal(page.requests.length, 0);
});

test("a failed request is dropped, not retried", async () => {
  const page = open({ fetch: "reject" });
  views(page, 2);
  page.advance(200);
  await new Promise((resolve) => setImmediate(resolve));
  page.advance(120_000);
  page.fire("window", "pagehide");
  assert.equal(page.requests.length, 1);
  assert.equal(page.requests[0].via, "fetch");
});

test("leaving the page sends what is queued at once, by beacon", () => {
  const page = open();
  views(page, 2);
  page.fire("window", "pagehide");
  assert.deepEqual(
    page.requests.map((r) => [r.via, r.payload.events.length]),
    [["beacon", 2]],
  );
  assert.equal(page.timers.size, 0);
  page.advance(1000);
  assert.equal(page.requests.length, 1);
});

test("the page turning hidden sends what is queued; turning visible does not", () => {
  const page = open();
  views(page, 1);
  page.sandbox.document.visibilityState = "visible";
  page.fire("document", "visibilitychange");
  assert.equal(page.requests.length, 0);
  page.hide();
  assert.deepEqual(
    page.requests.map((r) => r.via),
    ["beacon"],
  );
});

test("on leaving, a beacon the browser refuses falls back to a keepalive fetch", () => {
  const page = open({ beacon: "refuse" });
  views(page, 1);
  page.hide();
  assert.equal(page.requests.length, 1);
  assert.equal(page.requests[0].via, "fetch");
  assert.equal(page.requests[0].options.keepalive, true);
});

test("at most 100 events a minute are sent; the rest are dropped with one warning", () => {
  const page = open();
  views(page, 150);
  page.advance(200);
  assert.equal(page.events().length, 100);
  assert.deepEqual(
    page.events().map((e) => e.product_id),
    Array.from({ length: 100 }, (_, i) => `p${i}`),
  );
  assert.equal(page.warnings.length, 1);

  page.advance(30_000);
  views(page, 5, 150);
  page.advance(200);
  assert.equal(page.events().length, 100);

  page.advance(30_000); // a minute after the first ones
  views(page, 5, 155);
  page.advance(200);
  assert.deepEqual(
    page.events()
      .slice(100)
      .map((e) => e.product_id),
    ["p155", "p156", "p157", "p158", "p159"],
  );
});

test("the minute is a sliding window", () => {
  const page = open();
  views(page, 60);
  page.advance(30_000);
  views(page, 60, 60); // 40 of these fit in the minute
  page.advance(200);
  assert.equal(page.events().length, 100);
  page.advance(30_000); // the first 60 leave the window
  views(page, 70, 120);
  page.advance(200);
  assert.equal(page.events().length, 160);
});
