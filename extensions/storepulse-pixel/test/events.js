// Standard events in the shapes Shopify documents them (the web pixels API's standard events
// reference, https://shopify.dev/docs/api/web-pixels-api/standard-events, and the same shapes in
// @shopify/web-pixels-extension's types, src/types/PixelEvents/index.ts): ids, clientId, name, seq,
// timestamp, context, data.

const context = (href) => ({
  document: { location: { href }, referrer: "https://www.example.com/", title: "Shop" },
  window: { location: { href } },
});

const variant = {
  id: "41234567890",
  image: { src: "https://cdn.shopify.com/s/files/1/tee.jpg" },
  price: { amount: 29.9, currencyCode: "EUR" },
  product: {
    id: "7123456789",
    title: "Organic cotton tee",
    type: "Shirts",
    untranslatedTitle: "Organic cotton tee",
    url: "/products/organic-cotton-tee",
    vendor: "Example",
  },
  sku: "TEE-ORG-M",
  title: "M / Black",
  untranslatedTitle: "M / Black",
};

export const CLIENT_ID = "xyz-123-client";

export const pageViewed = {
  id: "sh-ev-1",
  clientId: CLIENT_ID,
  name: "page_viewed",
  seq: 1,
  timestamp: "2026-12-04T10:00:00.000Z",
  type: "standard",
  context: context("https://shop.example.com/"),
  data: {},
};

export const productViewed = {
  id: "sh-ev-2",
  clientId: CLIENT_ID,
  name: "product_viewed",
  seq: 2,
  timestamp: "2026-12-04T10:00:01.250Z",
  type: "standard",
  context: context("https://shop.example.com/products/organic-cotton-tee"),
  data: { productVariant: variant },
};

export const productAddedToCart = {
  id: "sh-ev-3",
  clientId: CLIENT_ID,
  name: "product_added_to_cart",
  seq: 3,
  timestamp: "2026-12-04T10:00:09.000Z",
  type: "standard",
  context: context("https://shop.example.com/products/organic-cotton-tee"),
  data: {
    cartLine: {
      cost: { totalAmount: { amount: 59.8, currencyCode: "EUR" } },
      merchandise: variant,
      quantity: 2,
    },
  },
};

const checkout = (order) => ({
  attributes: [],
  billingAddress: null,
  buyerAcceptsEmailMarketing: false,
  buyerAcceptsSmsMarketing: false,
  currencyCode: "EUR",
  delivery: null,
  discountApplications: [],
  discountsAmount: null,
  email: null, // hidden from pixels without protected customer data approval
  lineItems: [
    {
      discountAllocations: [],
      finalLinePrice: { amount: 59.8, currencyCode: "EUR" },
      id: "line-1",
      properties: [],
      quantity: 2,
      sellingPlanAllocation: null,
      title: "Organic cotton tee",
      variant,
    },
  ],
  order,
  phone: null,
  shippingAddress: null,
  shippingLine: null,
  smsMarketingPhone: null,
  subtotalPrice: { amount: 59.8, currencyCode: "EUR" },
  token: "b1946ac92492d2347c6235b4d2611184",
  totalPrice: { amount: 64.8, currencyCode: "EUR" },
  totalTax: { amount: 10.35, currencyCode: "EUR" },
  transactions: [],
});

export const checkoutStarted = {
  id: "sh-ev-4",
  clientId: CLIENT_ID,
  name: "checkout_started",
  seq: 4,
  timestamp: "2026-12-04T10:01:00.000Z",
  type: "standard",
  context: context("https://shop.example.com/checkouts/cn/abc"),
  data: { checkout: checkout(null) },
};

export const checkoutCompleted = {
  id: "sh-ev-5",
  clientId: CLIENT_ID,
  name: "checkout_completed",
  seq: 5,
  timestamp: "2026-12-04T10:03:00.000Z",
  type: "standard",
  context: context("https://shop.example.com/checkouts/cn/abc/thank-you"),
  data: {
    checkout: checkout({ id: "5550001112223", customer: { id: "6200000000001", isFirstOrder: true } }),
  },
};

// A storefront event storepulse does not take.
export const searchSubmitted = {
  id: "sh-ev-6",
  clientId: CLIENT_ID,
  name: "search_submitted",
  seq: 6,
  timestamp: "2026-12-04T10:04:00.000Z",
  type: "standard",
  context: context("https://shop.example.com/search?q=tee"),
  data: { searchResult: { query: "tee", productVariants: [variant] } },
};

// `init`: the page's data when the pixel starts (a logged-in customer here), and consent.
export const init = (customer = { id: "6200000000001", email: null }) => ({
  context: context("https://shop.example.com/"),
  data: {
    customer,
    cart: null,
    shop: {
      myshopifyDomain: "example-shop.myshopify.com",
      name: "Example",
      storefrontUrl: "https://shop.example.com",
      countryCode: "PL",
      paymentSettings: { currencyCode: "EUR" },
    },
    purchasingCompany: null,
  },
  customerPrivacy: {
    analyticsProcessingAllowed: true,
    marketingAllowed: true,
    preferencesProcessingAllowed: false,
    saleOfDataAllowed: true,
  },
});
