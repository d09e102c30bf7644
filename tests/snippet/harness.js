// A storefront page for the tracking snippet without a browser: the globals it reads (window,
// document, navigator, localStorage, fetch, timers, crypto, Date) are stand-ins that record what
// it does, and the file runs in a fresh `vm` context as a <script> would.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import vm from "node:vm";

// STOREPULSE_SNIPPET names the file to test; by default the one in this repository.
export const SOURCE_PATH =
  process.env.STOREPULSE_SNIPPET ||
  fileURLToPath(new URL("../../integration/web/static/storepulse.js", import.meta.url));
export const SOURCE = readFileSync(SOURCE_PATH, "utf8");

// The first line of the loader merchants paste into their pages.
export const LOADER =
  "window.storepulse = window.storepulse || function () { (storepulse.q = storepulse.q || []).push(arguments); };";

export const KEY = "pk_test_123";
export const URL_ = "https://sp.example.com/collect";
export const HREF = "https://shop.example.com/products/tee?variant=42";
export const START = Date.parse("2025-03-01T12:00:00.000Z");
export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
export const MAX_BODY = 16 * 1024;

// localStorage with its items in a Map; `blocked` makes every call throw, as in some private modes.
export function createStorage({ blocked = false } = {}) {
  const items = new Map();
  const check = () => {
    if (storage.blocked) throw new Error("SecurityError: storage is disabled");
  };
  const storage = {
    blocked,
    items,
    getItem(name) {
      check();
      return items.has(name) ? items.get(name) : null;
    },
    setItem(name, value) {
      check();
      items.set(name, String(value));
    },
    removeItem(name) {
      check();
      items.delete(name);
    },
  };
  return storage;
}

// document.cookie for one site: every write kept as written, values by name; Max-Age<=0 deletes.
export function createCookieJar() {
  const values = new Map();
  const writes = [];
  return {
    values,
    writes,
    read: () => [...values].map(([name, value]) => `${name}=${value}`).join("; "),
    write(text) {
      writes.push(text);
      const [pair, ...attributes] = text.split(";").map((part) => part.trim());
      const at = pair.indexOf("=");
      const name = pair.slice(0, at);
      const maxAge = attributes.find((a) => /^max-age=/i.test(a));
      if (maxAge && Number(maxAge.split("=")[1]) <= 0) values.delete(name);
      else values.set(name, pair.slice(at + 1));
    },
  };
}

export function createClock(now = START) {
  const clock = { now };
  clock.Date = class extends Date {
    constructor(...args) {
      if (args.length) super(...args);
      else super(clock.now);
    }
    static now() {
      return clock.now;
    }
  };
  return clock;
}

// A Blob that keeps its parts, so a beacon's body can be read at once.
class FakeBlob {
  constructor(parts, options = {}) {
    this.parts = parts;
    this.type = options.type;
  }
}

// A page with the snippet's stand-ins. `fetch`: "ok", "reject", "throw" or null (no fetch);
// `beacon`: "ok", "refuse" (returns false) or null (no sendBeacon).
export function createPage({
  storage = createStorage(),
  cookies = createCookieJar(),
  clock = createClock(),
  href = HREF,
  fetch = "ok",
  beacon = "ok",
  randomUUID = true,
  textEncoder = true,
  storageGetterThrows = false,
  cookiesBlocked = false,
} = {}) {
  const requests = [];
  const warnings = [];
  const timers = new Map();
  const listeners = { window: {}, document: {} };
  let timerId = 0;
  let uuidCount = 0;

  const sent = (via, url, body, extra) => {
    const record = { via, url, body, bytes: Buffer.byteLength(body, "utf8"), payload: JSON.parse(body), ...extra };
    requests.push(record);
  };
  const listen = (target) => (type, fn) => (listeners[target][type] ??= []).push(fn);

  const document = {
    visibilityState: "visible",
    addEventListener: listen("document"),
    get cookie() {
      if (cookiesBlocked) throw new Error("SecurityError: cookies are disabled");
      return cookies.read();
    },
    set cookie(text) {
      if (cookiesBlocked) throw new Error("SecurityError: cookies are disabled");
      cookies.write(text);
    },
  };
  const navigator = {};
  if (beacon) {
    navigator.sendBeacon = (url, data) => {
      if (beacon === "refuse") return false;
      sent("beacon", url, data.parts.join(""), { contentType: data.type });
      return true;
    };
  }
  const crypto = {
    getRandomValues(array) {
      for (let i = 0; i < array.length; i++) array[i] = Math.floor(Math.random() * 256);
      return array;
    },
  };
  if (randomUUID) {
    crypto.randomUUID = () => `00000000-0000-4000-8000-${String(++uuidCount).padStart(12, "0")}`;
  }

  const sandbox = {
    document,
    navigator,
    crypto,
    location: { href, protocol: new URL(href).protocol },
    console: { warn: (message) => warnings.push(String(message)), log() {}, error() {} },
    Date: clock.Date,
    Blob: FakeBlob,
    addEventListener: listen("window"),
    setTimeout(fn, ms) {
      timers.set(++timerId, { id: timerId, fn, at: clock.now + (ms || 0) });
      return timerId;
    },
    clearTimeout(id) {
      timers.delete(id);
    },
  };
  if (textEncoder) sandbox.TextEncoder = TextEncoder;
  if (storageGetterThrows) {
    Object.defineProperty(sandbox, "localStorage", {
      get() {
        throw new Error("SecurityError: access to localStorage is denied");
      },
    });
  } else {
    sandbox.localStorage = storage;
  }
  if (fetch) {
    sandbox.fetch = (url, options) => {
      if (fetch === "throw") throw new TypeError("fetch is blocked");
      sent("fetch", url, options.body, { options, contentType: options.headers?.["Content-Type"] });
      return fetch === "reject" ? Promise.reject(new TypeError("Failed to fetch")) : Promise.resolve({ status: 202 });
    };
  }
  sandbox.window = sandbox;
  vm.createContext(sandbox);

  const page = {
    sandbox,
    storage,
    cookies,
    clock,
    requests,
    warnings,
    timers,
    listeners,
    run: (code) => vm.runInContext(code, sandbox),
    // The loader's stub, as the merchant's inline <script> defines it.
    stub() {
      page.run(LOADER);
      return page;
    },
    // The snippet file itself, as the async <script> runs it.
    load() {
      page.run(SOURCE);
      return page;
    },
    call: (...args) => sandbox.window.storepulse(...args),
    // Time passes: the timers due run in order.
    advance(ms) {
      const end = clock.now + ms;
      for (;;) {
        const due = [...timers.values()].filter((t) => t.at <= end).sort((a, b) => a.at - b.at || a.id - b.id)[0];
        if (!due) break;
        timers.delete(due.id);
        clock.now = due.at;
        due.fn();
      }
      clock.now = end;
    },
    fire(target, type) {
      for (const fn of listeners[target][type] ?? []) fn({ type });
    },
    hide() {
      document.visibilityState = "hidden";
      page.fire("document", "visibilitychange");
    },
    events: () => requests.flatMap((request) => request.payload.events),
  };
  return page;
}

// A page with the stub and the snippet loaded, and `init` called (default options unless given).
export function openPage({ init = {}, ...options } = {}) {
  const page = createPage(options).stub().load();
  page.call("init", { key: KEY, url: URL_, ...init });
  return page;
}
