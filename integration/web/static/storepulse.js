/* storepulse tracking snippet: storefront events posted to the shop's storepulse collector.
 * Unless init says `requireConsent: false`, nothing is stored or sent before consent(true).
 * Globals are read from `window` when used, so a test can run the file with stand-ins. */
(function () {
  "use strict";
  const w = typeof window !== "undefined" ? window : globalThis;
  const stub = w.storepulse;
  if (stub && stub.loaded) return; // already on the page

  const VID = "storepulse_vid"; // localStorage key and cookie name
  const BATCH = 20; // events per request
  const MAX_BODY = 16 * 1024; // bytes: a request body stays below it
  const PER_MINUTE = 100; // events sent at most
  const ID_RE = /^[\w-]{8,100}$/;
  const PRODUCT = { product_id: 100, variant_id: 100, sku: 100, title: 300 };

  let config = null; // { key, url, requireConsent }
  let consent = null; // null until the shop's banner says, then true or false
  let vid = null; // the visitor id, once storing is allowed
  let waiting = []; // recorded before sending was allowed (50 at most)
  let batch = [];
  let timer = null;
  let sent = []; // queue times within the last minute
  const warned = {};

  // Blocked storage, private mode or a missing API never breaks the page.
  function safe(fn, fallback) {
    try {
      return fn();
    } catch (e) {
      return fallback;
    }
  }

  function warn(message) {
    if (!warned[message]) safe(() => w.console.warn("storepulse: " + message));
    warned[message] = true;
  }

  function uuid() {
    const c = w.crypto;
    const id = safe(() => c.randomUUID()); // needs a secure context
    if (typeof id === "string") return id;
    const b = new Uint8Array(16);
    if (!safe(() => c.getRandomValues(b))) for (let i = 0; i < 16; i++) b[i] = Math.random() * 256;
    b[6] = (b[6] & 0x0f) | 0x40; // version 4
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, (x) => (x + 0x100).toString(16).slice(1)).join("");
    return h.replace(/^(.{8})(.{4})(.{4})(.{4})/, "$1-$2-$3-$4-");
  }

  // UTF-8 length; without TextEncoder, an upper bound.
  const bytes = (text) => safe(() => new w.TextEncoder().encode(text).length, text.length * 3);

  // Visitor id: localStorage, else the cookie, else a new one; written to both (or kept in memory).
  const store = () => safe(() => w.localStorage);
  const readCookie = () => safe(() => (/(?:^|;\s*)storepulse_vid=([^;]*)/.exec(w.document.cookie) || [])[1]);
  const writeCookie = (value, maxAge) =>
    safe(() => {
      const secure = safe(() => w.location.protocol) === "https:" ? "; Secure" : "";
      w.document.cookie = VID + "=" + value + "; Max-Age=" + maxAge + "; Path=/; SameSite=Lax" + secure;
    });

  function visitor() {
    if (vid) return vid;
    const found = [safe(() => store().getItem(VID)), readCookie()].filter((v) => ID_RE.test(v || ""));
    vid = found[0] || uuid();
    safe(() => store().setItem(VID, vid));
    writeCookie(vid, 31536000); // a year
    return vid;
  }

  function forget() {
    vid = null;
    safe(() => store().removeItem(VID));
    if (readCookie() !== undefined) writeCookie("", 0);
  }

  // A text/plain body (no CORS preflight), no credentials; a failed request is dropped.
  const blob = (body) => (w.Blob ? new w.Blob([body], { type: "text/plain" }) : body);
  const beacon = (body) => safe(() => Boolean(w.navigator.sendBeacon(config.url, blob(body))), false);

  function post(body, leaving) {
    if (leaving && beacon(body)) return;
    const headers = { "Content-Type": "text/plain" };
    const options = { method: "POST", headers, body, keepalive: true, credentials: "omit", mode: "cors" };
    const request = safe(() => w.fetch(config.url, options) || true, null);
    if (request && request.catch) request.catch(() => {});
    if (!request && !leaving) beacon(body);
  }

  function stopTimer() {
    if (timer !== null) safe(() => w.clearTimeout(timer));
    timer = null;
  }

  const payload = (events) => JSON.stringify({ key: config.key, source: "snippet", events });

  function flush(leaving) {
    stopTimer();
    if (!batch.length || !config) return;
    const body = payload(batch);
    batch = [];
    post(body, leaving);
  }

  function enqueue(event) {
    const now = Date.now();
    while (sent.length && now - sent[0] >= 60000) sent.shift();
    if (sent.length >= PER_MINUTE) return warn("over 100 events a minute: dropped");
    sent.push(now);
    event.visitor = visitor();
    if (batch.length && bytes(payload(batch.concat(event))) >= MAX_BODY) flush(false);
    batch.push(event);
    if (batch.length >= BATCH) flush(false);
    else if (timer === null) timer = w.setTimeout(() => flush(false), 200);
  }

  const allowed = () => Boolean(config) && (consent === true || (consent === null && !config.requireConsent));

  function release() {
    if (!allowed()) return;
    const held = waiting;
    waiting = [];
    held.forEach(enqueue);
  }

  // Only the fields given, strings cut to their limits.
  function cut(value, limit) {
    if (typeof value === "number" && Number.isFinite(value)) value = String(value);
    if (typeof value !== "string" || !value.trim()) return undefined;
    return value.trim().slice(0, limit);
  }

  // A number, or a string of one; else NaN.
  const number = (v) => (typeof v === "number" || (typeof v === "string" && v.trim()) ? Number(v) : NaN);

  function product(data, withQuantity) {
    const d = data && typeof data === "object" ? data : {};
    const out = {};
    for (const name in PRODUCT) {
      const value = cut(d[name], PRODUCT[name]);
      if (value !== undefined) out[name] = value;
    }
    // Values the collector would refuse the whole event for are left out instead.
    const price = number(d.price);
    // A price written as decimals ("29.90") is sent as written; a number as JavaScript writes it.
    const written = typeof d.price === "string" && /^\d+(\.\d+)?$/.test(d.price.trim());
    if (price >= 0 && price < 1e12) out.price = written ? d.price.trim() : String(price);
    const currency = (cut(d.currency, 3) || "").toUpperCase();
    if (/^[A-Z]{3}$/.test(currency)) out.currency = currency;
    const quantity = number(d.quantity);
    if (withQuantity && Number.isInteger(quantity) && quantity >= 1 && quantity <= 10000) out.quantity = quantity;
    return out;
  }

  function record(type, fields) {
    const event = Object.assign(
      {
        id: uuid(),
        type,
        at: new Date().toISOString(),
        visitor: null, // set when sent: stored only once consent allows
        url: cut(safe(() => w.location.href), 2000),
      },
      fields,
    );
    if (allowed()) enqueue(event);
    else if (consent !== false && waiting.length < 50) waiting.push(event);
  }

  const commands = {
    init(o) {
      if (config) return warn("init called again: ignored");
      if (!o || !o.key || !o.url) return warn("init needs a key and a url");
      config = { key: String(o.key).slice(0, 200), url: String(o.url), requireConsent: o.requireConsent !== false };
      release();
    },
    // consent(true) grants; anything else withdraws: waiting events and the stored id are dropped.
    consent(given) {
      consent = given === true;
      if (consent) return release();
      waiting = [];
      batch = [];
      stopTimer();
      forget();
    },
    page: () => record("page_view", {}),
    view: (data) => record("product_view", product(data, false)),
    add_to_cart: (data) => record("add_to_cart", product(data, true)),
    identify(data) {
      const email = cut(data && data.email, 320);
      if (email && email.includes("@")) record("identify", { email });
    },
  };

  function storepulse(name, data) {
    if (!Object.prototype.hasOwnProperty.call(commands, name)) return warn("unknown command " + String(name));
    safe(() => commands[name](data));
  }
  storepulse.loaded = true;

  // Leaving the page: send what is queued now, by beacon where there is one.
  const doc = w.document;
  safe(() => w.addEventListener("pagehide", () => flush(true)));
  safe(() => doc.addEventListener("visibilitychange", () => doc.visibilityState === "hidden" && flush(true)));

  // Replay what the loader queued, then take its place.
  const queued = (stub && stub.q) || [];
  for (let i = 0; i < queued.length; i++) storepulse.apply(null, queued[i]);
  w.storepulse = storepulse;
})();
