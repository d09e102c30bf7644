import assert from "node:assert/strict";
import { test } from "node:test";

import { FLUSH_MS, MAX_BODY, MAX_EVENTS, allowed, compact, createSender } from "../src/collect.js";
import {
  CLIENT_ID,
  checkoutCompleted,
  checkoutStarted,
  pageViewed,
  productAddedToCart,
  productViewed,
  searchSubmitted,
} from "./events.js";

test("a product view carries the product, variant, price and the visitor, and no personal data", () => {
  assert.deepEqual(compact(productViewed, "6200000000001"), {
    id: "sh-ev-2",
    type: "product_view",
    at: "2026-12-04T10:00:01.250Z",
    visitor: CLIENT_ID,
    customer_id: "6200000000001",
    url: "https://shop.example.com/products/organic-cotton-tee",
    product_id: "7123456789",
    variant_id: "41234567890",
    sku: "TEE-ORG-M",
    title: "Organic cotton tee",
    price: "29.9",
    currency: "EUR",
  });
});

test("an add to cart carries the quantity and the line's total", () => {
  const record = compact(productAddedToCart);
  assert.equal(record.type, "add_to_cart");
  assert.equal(record.customer_id, null); // a guest
  assert.deepEqual([record.product_id, record.quantity, record.price, record.currency], ["7123456789", 2, "59.8", "EUR"]);
});

test("checkouts carry their token, and a completed one its order and customer (the visitor's tie)", () => {
  const started = compact(checkoutStarted);
  assert.deepEqual([started.type, started.checkout_token, started.order_id, started.customer_id], [
    "checkout_started",
    "b1946ac92492d2347c6235b4d2611184",
    null,
    null,
  ]);
  const completed = compact(checkoutCompleted);
  assert.deepEqual([completed.type, completed.order_id, completed.customer_id, completed.price], [
    "checkout_completed",
    "5550001112223",
    "6200000000001",
    "64.8",
  ]);
  assert.equal(JSON.stringify(completed).includes("@"), false);
});

test("a page view is the page only; events storepulse does not take, or incomplete ones, are left out", () => {
  assert.deepEqual(compact(pageViewed), {
    id: "sh-ev-1",
    type: "page_view",
    at: "2026-12-04T10:00:00.000Z",
    visitor: CLIENT_ID,
    customer_id: null,
    url: "https://shop.example.com/",
  });
  assert.equal(compact(searchSubmitted), null);
  assert.equal(compact({ ...productAddedToCart, data: { cartLine: null } }), null);
  assert.equal(compact({ ...productViewed, clientId: undefined }), null);
  assert.equal(compact({ ...productViewed, id: "" }), null);
  assert.equal(compact(undefined), null);
});

test("long texts are cut to the collector's limits", () => {
  const long = structuredClone(productViewed);
  long.context.document.location.href = `https://shop.example.com/${"p".repeat(5000)}`;
  long.data.productVariant.product.title = "T".repeat(1000);
  const record = compact(long);
  assert.equal(record.url.length, 2000);
  assert.equal(record.title.length, 300);
});

// A sender with a clock the test moves by hand, and the requests it made.
function harness(fail = false) {
  const requests = [];
  const timers = new Map();
  let next = 1;
  const sender = createSender({
    url: "https://storepulse.example.com/collect",
    key: "pk_test",
    shop: "example-shop.myshopify.com",
    fetch: async (url, options) => {
      requests.push({ url, options, body: JSON.parse(options.body) });
      if (fail) throw new TypeError("Failed to fetch");
      return { status: 202 };
    },
    setTimeout: (fn, ms) => {
      timers.set(next, { fn, ms });
      return next++;
    },
    clearTimeout: (id) => timers.delete(id),
  });
  const tick = async () => {
    for (const [id, { fn }] of [...timers]) {
      timers.delete(id);
      await fn();
    }
  };
  return { sender, requests, timers, tick };
}

test("events fired together go in one keepalive text/plain request with the key and shop", async () => {
  const { sender, requests, timers, tick } = harness();
  sender.push(compact(pageViewed));
  sender.push(compact(productViewed));
  assert.equal(requests.length, 0);
  assert.deepEqual([...timers.values()].map((t) => t.ms), [FLUSH_MS]);
  await tick();
  assert.equal(requests.length, 1);
  const [{ url, options, body }] = requests;
  assert.equal(url, "https://storepulse.example.com/collect");
  assert.equal(options.method, "POST");
  assert.equal(options.keepalive, true);
  assert.equal(options.credentials, "omit");
  assert.deepEqual(options.headers, { "Content-Type": "text/plain" });
  assert.equal(body.key, "pk_test");
  assert.equal(body.shop, "example-shop.myshopify.com");
  assert.equal(body.source, "shopify_pixel");
  assert.deepEqual(body.events.map((e) => e.type), ["page_view", "product_view"]);
});

test("a full batch goes at once, and no request exceeds the batch or body caps", async () => {
  const { sender, requests, tick } = harness();
  for (let n = 0; n < MAX_EVENTS + 3; n += 1) {
    await sender.push({ ...compact(productViewed), id: `ev-${n}` });
  }
  assert.equal(requests.length, 1);
  assert.equal(requests[0].body.events.length, MAX_EVENTS);
  await tick();
  assert.deepEqual(requests.map((r) => r.body.events.length), [MAX_EVENTS, 3]);

  const big = harness();
  const bulky = { ...compact(productViewed), url: "u".repeat(2000), title: "t".repeat(300) };
  for (let n = 0; n < 15; n += 1) big.sender.push({ ...bulky, id: `big-${n}` });
  await big.tick();
  await big.sender.flush();
  assert.ok(big.requests.length > 1);
  for (const request of big.requests) assert.ok(request.options.body.length <= MAX_BODY);
  assert.equal(big.requests.flatMap((r) => r.body.events).length, 15);
});

test("a failed request is dropped without an error or a retry", async () => {
  const { sender, requests, tick } = harness(true);
  sender.push(compact(productViewed));
  await tick();
  await sender.flush();
  assert.equal(requests.length, 1);
});

test("consent: analytics and marketing are both needed", () => {
  assert.equal(allowed({ analyticsProcessingAllowed: true, marketingAllowed: true }), true);
  assert.equal(allowed({ analyticsProcessingAllowed: true, marketingAllowed: false }), false);
  assert.equal(allowed({ analyticsProcessingAllowed: false, marketingAllowed: true }), false);
  assert.equal(allowed(undefined), false);
});
