// What each command sends: its type, the common fields, and only the fields given, cut to size.
import assert from "node:assert/strict";
import { test } from "node:test";

import { HREF, START, UUID, openPage } from "../harness.js";

function sendOne(command, data, options = {}) {
  const page = openPage({ init: { requireConsent: false }, randomUUID: false, ...options });
  page.call(command, data);
  page.advance(200);
  const events = page.events();
  assert.ok(events.length <= 1);
  return events[0];
}

// The event without the fields every event has.
function fields(event) {
  const { id, type, at, visitor, url, ...rest } = event;
  return rest;
}

test("every event has a unique id, its type, the time, the visitor and the page's url", () => {
  const page = openPage({ init: { requireConsent: false }, randomUUID: false });
  page.call("page");
  page.advance(30_000);
  page.call("view", { product_id: "p1" });
  page.call("add_to_cart", { product_id: "p1" });
  page.call("identify", { email: "ann@example.com" });
  page.advance(200);
  const events = page.events();
  assert.deepEqual(
    events.map((e) => e.type),
    ["page_view", "product_view", "add_to_cart", "identify"],
  );
  for (const e of events) {
    assert.deepEqual(Object.keys(e).slice(0, 5), ["id", "type", "at", "visitor", "url"]);
    assert.match(e.id, UUID);
    assert.match(e.visitor, UUID);
    assert.equal(e.visitor, events[0].visitor);
    assert.equal(e.url, HREF);
  }
  assert.equal(new Set(events.map((e) => e.id)).size, 4);
  assert.equal(events[0].at, new Date(START).toISOString());
  assert.equal(events[1].at, new Date(START + 30_000).toISOString());
  assert.deepEqual(fields(events[0]), {});
});

test("a product view carries the product's fields, as strings", () => {
  const event = sendOne("view", {
    product_id: 1234,
    variant_id: "gid://shopify/ProductVariant/5",
    sku: " TEE-M ",
    title: "Tee",
    price: 19.9,
    currency: "eur",
    quantity: 3,
    email: "ann@example.com",
    secret: "x",
  });
  assert.equal(event.type, "product_view");
  assert.deepEqual(fields(event), {
    product_id: "1234",
    variant_id: "gid://shopify/ProductVariant/5",
    sku: "TEE-M",
    title: "Tee",
    price: "19.9",
    currency: "EUR",
  });
});

test("an add-to-cart carries the quantity too, and a price written as decimals as written", () => {
  const event = sendOne("add_to_cart", { product_id: "p1", price: "12.50", currency: "USD", quantity: 2 });
  assert.equal(event.type, "add_to_cart");
  assert.deepEqual(fields(event), { product_id: "p1", price: "12.50", currency: "USD", quantity: 2 });
  assert.equal(sendOne("view", { product_id: "p1", price: " 7.5e1 " }).price, "75");
  assert.equal(sendOne("view", { product_id: "p1", price: 12.5 }).price, "12.5");
});

test("fields are cut to their limits", () => {
  const event = sendOne(
    "add_to_cart",
    {
      product_id: "p".repeat(150),
      variant_id: "v".repeat(150),
      sku: "s".repeat(150),
      title: "t".repeat(400),
      currency: "euros",
    },
    { href: `https://shop.example.com/?q=${"x".repeat(3000)}` },
  );
  assert.equal(event.product_id, "p".repeat(100));
  assert.equal(event.variant_id, "v".repeat(100));
  assert.equal(event.sku, "s".repeat(100));
  assert.equal(event.title, "t".repeat(300));
  assert.equal(event.currency, "EUR");
  assert.equal(event.url.length, 2000);
  assert.ok(event.url.startsWith("https://shop.example.com/?q=xxx"));
});

test("fields not given, empty or of the wrong kind are left out", () => {
  const event = sendOne("view", {
    product_id: "",
    variant_id: null,
    sku: { toString: () => "sku" },
    title: "   ",
    currency: ["USD"],
  });
  assert.deepEqual(fields(event), {});
  assert.deepEqual(fields(sendOne("view")), {});
  assert.deepEqual(fields(sendOne("add_to_cart", "p1")), {});
});

test("the price is sent only as a string of a finite number, from 0 up to the collector's bound", () => {
  const cases = [
    [0, "0"],
    [10, "10"],
    [19.99, "19.99"],
    ["7", "7"],
    [" 8.5 ", "8.5"],
    ["1e3", "1000"],
    [NaN, undefined],
    [Infinity, undefined],
    [-1, undefined],
    [1e12, undefined],
    ["Infinity", undefined],
    ["abc", undefined],
    ["", undefined],
    [null, undefined],
    [true, undefined],
    [{ amount: 5 }, undefined],
  ];
  for (const [price, expected] of cases) {
    assert.equal(sendOne("view", { product_id: "p", price }).price, expected, `price ${String(price)}`);
  }
});

test("the quantity is sent only as an integer from 1 to 10000", () => {
  const cases = [
    [1, 1],
    [12, 12],
    [10_000, 10_000],
    ["3", 3],
    [10_001, undefined],
    [0, undefined],
    [-2, undefined],
    [1.5, undefined],
    ["two", undefined],
    [NaN, undefined],
    [null, undefined],
  ];
  for (const [quantity, expected] of cases) {
    assert.equal(sendOne("add_to_cart", { product_id: "p", quantity }).quantity, expected, `quantity ${quantity}`);
  }
});

test("the currency is sent as three letters, upper-cased", () => {
  const cases = [
    ["usd", "USD"],
    ["Euro", "EUR"],
    [" gbp ", "GBP"],
    ["US$", undefined],
    ["eu", undefined],
    ["123", undefined],
    [978, undefined],
  ];
  for (const [currency, expected] of cases) {
    assert.equal(sendOne("view", { product_id: "p", currency }).currency, expected, `currency ${currency}`);
  }
});

test("identify sends the trimmed email, cut to 320 characters, and nothing else", () => {
  const event = sendOne("identify", { email: "  Ann@Example.com ", customer_id: "c1" });
  assert.equal(event.type, "identify");
  assert.deepEqual(fields(event), { email: "Ann@Example.com" });
  const long = `ann@${"d".repeat(400)}.com`;
  assert.equal(sendOne("identify", { email: long }).email, `ann@${"d".repeat(316)}`);
  // Cut first: an @ only past the limit leaves no email to send.
  assert.equal(sendOne("identify", { email: `${"a".repeat(400)}@example.com` }), undefined);
});

test("identify without an @ is skipped", () => {
  for (const data of [{ email: "ann.example.com" }, { email: "" }, { email: 42 }, {}, undefined, "ann@example.com"]) {
    assert.equal(sendOne("identify", data), undefined, JSON.stringify(data));
  }
});

test("page() sends no fields beyond the common ones, whatever it is given", () => {
  const event = sendOne("page", { title: "Home", email: "ann@example.com" });
  assert.equal(event.type, "page_view");
  assert.deepEqual(fields(event), {});
});
