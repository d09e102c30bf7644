// What the pixel sends, and how: Shopify's standard events made compact, batched, and posted to
// storepulse's collector. No Shopify API is used here, so the tests run it under plain Node.

// Shopify's event names, and the names storepulse's collector knows them by (the tracking snippet
// uses the same ones).
export const EVENTS = {
  page_viewed: "page_view",
  product_viewed: "product_view",
  product_added_to_cart: "add_to_cart",
  checkout_started: "checkout_started",
  checkout_completed: "checkout_completed",
};

export const MAX_EVENTS = 20; // events per request (the collector refuses larger batches)
// Every keepalive request in flight shares 64 KiB of body: a request stays well below it.
export const MAX_BODY = 16 * 1024;
export const FLUSH_MS = 100; // events fired together (a page view and a product view) go together

const LIMITS = { id: 100, url: 2000, title: 300, text: 100 };

function cut(value, limit) {
  if (value === null || value === undefined) return null;
  const text = String(value);
  return text.length > limit ? text.slice(0, limit) : text;
}

function money(value) {
  return value && typeof value.amount === "number" && Number.isFinite(value.amount)
    ? { price: String(value.amount), currency: cut(value.currencyCode, 3) }
    : {};
}

function variantFields(variant) {
  if (!variant) return {};
  return {
    product_id: cut(variant.product?.id, LIMITS.id),
    variant_id: cut(variant.id, LIMITS.id),
    sku: cut(variant.sku, LIMITS.text),
    title: cut(variant.product?.title ?? variant.title, LIMITS.title),
    ...money(variant.price),
  };
}

function details(event) {
  const data = event.data ?? {};
  switch (event.name) {
    case "product_viewed":
      return data.productVariant ? variantFields(data.productVariant) : null;
    case "product_added_to_cart": {
      const line = data.cartLine;
      if (!line) return null; // Shopify sends null when the line is unknown
      return {
        ...variantFields(line.merchandise),
        quantity: Number.isInteger(line.quantity) ? line.quantity : null,
        ...money(line.cost?.totalAmount),
      };
    }
    case "checkout_started":
    case "checkout_completed": {
      const checkout = data.checkout;
      if (!checkout) return null;
      return {
        checkout_token: cut(checkout.token, LIMITS.id),
        order_id: cut(checkout.order?.id, LIMITS.id),
        ...money(checkout.totalPrice),
      };
    }
    default:
      return {};
  }
}

// One of Shopify's standard events as the collector takes it, or null for one it does not take.
// The visitor is Shopify's `clientId`; the customer id is the logged-in customer's (from the page's
// `init` data) or the order's on a completed checkout. Email and names are never read.
export function compact(event, customerId = null) {
  const type = EVENTS[event?.name];
  if (!type || !event.id || !event.clientId || !event.timestamp) return null;
  const extra = details(event);
  if (extra === null) return null;
  const customer = event.data?.checkout?.order?.customer?.id ?? customerId;
  return {
    id: cut(event.id, LIMITS.id),
    type,
    at: event.timestamp,
    visitor: cut(event.clientId, LIMITS.id),
    customer_id: cut(customer, LIMITS.id),
    url: cut(event.context?.document?.location?.href, LIMITS.url),
    ...extra,
  };
}

// Batches records and posts them: `push` queues one, a timer or a full batch sends. A request that
// fails is dropped (the collector drops duplicates, so nothing here retries into a loop).
export function createSender({ url, key, shop, fetch, setTimeout, clearTimeout }) {
  let queue = [];
  let timer = null;

  const body = (events) => JSON.stringify({ key, shop, source: "shopify_pixel", events });

  function send(events) {
    if (events.length === 0) return Promise.resolve();
    return Promise.resolve()
      .then(() =>
        fetch(url, {
          method: "POST",
          // A CORS-safelisted type: no preflight from the sandbox.
          headers: { "Content-Type": "text/plain" },
          body: body(events),
          keepalive: true,
          credentials: "omit",
        }),
      )
      .catch(() => undefined);
  }

  function flush() {
    if (timer !== null) {
      clearTimeout(timer);
      timer = null;
    }
    const events = queue;
    queue = [];
    return send(events);
  }

  function push(record) {
    if (queue.length > 0 && body([...queue, record]).length > MAX_BODY) flush();
    queue.push(record);
    if (queue.length >= MAX_EVENTS) return flush();
    if (timer === null) timer = setTimeout(flush, FLUSH_MS);
    return Promise.resolve();
  }

  return { push, flush };
}

// Whether the visitor's consent lets the pixel send: analytics and marketing, as the extension
// declares it needs them (Shopify loads it only with both; a withdrawal stops it at once).
export function allowed(privacy) {
  return Boolean(privacy?.analyticsProcessingAllowed && privacy?.marketingAllowed);
}
