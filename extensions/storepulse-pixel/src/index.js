// storepulse's app web pixel, registered with Shopify's web pixels API (strict sandbox).
import { register } from "@shopify/web-pixels-extension";

import { EVENTS, allowed, compact, createSender } from "./collect.js";

register(({ analytics, init, settings, customerPrivacy }) => {
  if (!settings?.collectUrl || !settings?.publicKey) return; // not switched on for this shop
  let consent = allowed(init?.customerPrivacy);
  customerPrivacy?.subscribe?.("visitorConsentCollected", (event) => {
    consent = allowed(event?.customerPrivacy);
  });
  const customerId = init?.data?.customer?.id ?? null;
  const sender = createSender({
    url: settings.collectUrl,
    key: settings.publicKey,
    shop: init?.data?.shop?.myshopifyDomain ?? null,
    fetch: (...args) => fetch(...args),
    setTimeout: (...args) => setTimeout(...args),
    clearTimeout: (...args) => clearTimeout(...args),
  });
  for (const name of Object.keys(EVENTS)) {
    analytics.subscribe(name, (event) => {
      if (!consent) return;
      const record = compact(event, customerId);
      if (record) sender.push(record);
    });
  }
});
