// The pixel as Shopify runs it: registered through @shopify/web-pixels-extension's `register`,
// which hands the extension to the sandbox's `shopify.extend`; here a stand-in sandbox calls it
// with the API Shopify documents (analytics, init, settings, customerPrivacy).
import assert from "node:assert/strict";
import { beforeEach, test } from "node:test";

import { CLIENT_ID, init, pageViewed, productViewed, searchSubmitted } from "./events.js";

let extensions = [];
globalThis.shopify = {
  extend(point, extension) {
    extensions.push({ point, extension });
  },
};
await import("../src/index.js");
const [{ point, extension }] = extensions;

let requests;
beforeEach(() => {
  requests = [];
  globalThis.fetch = async (url, options) => {
    requests.push({ url, body: JSON.parse(options.body) });
    return { status: 202 };
  };
});

function run({ settings = { collectUrl: "https://sp.example.com/collect", publicKey: "pk_live" }, page = init() } = {}) {
  const subscribers = new Map();
  const consent = [];
  extension({
    analytics: { subscribe: (name, callback) => subscribers.set(name, callback) },
    init: page,
    settings,
    customerPrivacy: { subscribe: (name, callback) => consent.push([name, callback]) },
    browser: {},
  });
  return { subscribers, consent };
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 250));

test("the pixel registers for Shopify's web pixel extension point", () => {
  assert.equal(point, "WebPixel::Render");
});

test("it subscribes to the storefront events storepulse takes, and sends them with the logged-in customer", async () => {
  const { subscribers } = run();
  assert.deepEqual([...subscribers.keys()].sort(), [
    "checkout_completed",
    "checkout_started",
    "page_viewed",
    "product_added_to_cart",
    "product_viewed",
  ]);
  subscribers.get("page_viewed")(pageViewed);
  subscribers.get("product_viewed")(productViewed);
  await settle();
  assert.equal(requests.length, 1);
  assert.equal(requests[0].url, "https://sp.example.com/collect");
  assert.equal(requests[0].body.key, "pk_live");
  assert.equal(requests[0].body.shop, "example-shop.myshopify.com");
  assert.deepEqual(
    requests[0].body.events.map((e) => [e.type, e.visitor, e.customer_id]),
    [
      ["page_view", CLIENT_ID, "6200000000001"],
      ["product_view", CLIENT_ID, "6200000000001"],
    ],
  );
  assert.equal(subscribers.has(searchSubmitted.name), false);
});

test("a withdrawn consent stops the sending at once; a new grant resumes it", async () => {
  const { subscribers, consent } = run();
  const [[name, changed]] = consent;
  assert.equal(name, "visitorConsentCollected");
  changed({ customerPrivacy: { analyticsProcessingAllowed: false, marketingAllowed: true } });
  subscribers.get("product_viewed")(productViewed);
  await settle();
  assert.equal(requests.length, 0);
  changed({ customerPrivacy: { analyticsProcessingAllowed: true, marketingAllowed: true } });
  subscribers.get("product_viewed")(productViewed);
  await settle();
  assert.equal(requests.length, 1);
});

test("without consent at page load, or without its settings, the pixel sends nothing", async () => {
  const page = init(null);
  page.customerPrivacy.marketingAllowed = false;
  run({ page }).subscribers.get("product_viewed")(productViewed);
  assert.equal(run({ settings: {} }).subscribers.size, 0);
  await settle();
  assert.equal(requests.length, 0);
});
