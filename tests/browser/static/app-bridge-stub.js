/*
 * A stand-in for Shopify's App Bridge, served only by the browser tests' server.
 *
 * Like the real script it is loaded synchronously in <head>, so `window.shopify` exists for every
 * later script. It reads the API key from <meta name="shopify-api-key"> (or the script's
 * data-api-key) and shop, host and locale from the page's query, as App Bridge does. Session tokens
 * come from the test server's minting endpoint beside this script (signed with the test app
 * secret); same-origin `fetch` calls carry one as `Authorization: Bearer`, and a 401 asking for a
 * retry (X-Shopify-Retry-Invalid-Session-Request) is retried once with a fresh token. On the
 * bounce page it reloads `shopify-reload` with a fresh `id_token`.
 */
(function () {
  "use strict";

  var script = document.currentScript;
  var tokenUrl = new URL("../session-token", script.src);
  var query = new URLSearchParams(window.location.search);
  var meta = document.querySelector('meta[name="shopify-api-key"]');
  var originalFetch = window.fetch.bind(window);

  var config = {
    apiKey: (meta && meta.content) || script.dataset.apiKey || "",
    shop: query.get("shop") || "",
    host: query.get("host") || "",
    locale: query.get("locale") || "en",
  };

  function idToken() {
    var url = new URL(tokenUrl);
    url.searchParams.set("shop", config.shop);
    return originalFetch(url, { cache: "no-store" }).then(function (response) {
      if (!response.ok) {
        throw new Error("the test server minted no session token: HTTP " + response.status);
      }
      return response.json().then(function (body) {
        return body.token;
      });
    });
  }

  function sameOrigin(request) {
    return new URL(request.url).origin === window.location.origin;
  }

  function withToken(request) {
    return idToken().then(function (token) {
      var headers = new Headers(request.headers);
      headers.set("Authorization", "Bearer " + token);
      return new Request(request, { headers: headers });
    });
  }

  window.fetch = function (input, init) {
    var request = new Request(input, init);
    if (!sameOrigin(request) || request.headers.has("Authorization")) {
      return originalFetch(request);
    }
    var retry = request.clone();
    return withToken(request)
      .then(originalFetch)
      .then(function (response) {
        if (response.status === 401 && response.headers.get("X-Shopify-Retry-Invalid-Session-Request") === "1") {
          return withToken(retry).then(originalFetch);
        }
        return response;
      });
  };

  // Toasts are kept (in `shown`, and in a live region on the page) until hidden, so that tests
  // and screenshots see them.
  var toastCount = 0;
  var toast = {
    shown: [],
    show: function (message, options) {
      var id = "toast-" + ++toastCount;
      var opts = options || {};
      toast.shown.push({ id: id, message: message, isError: Boolean(opts.isError), duration: opts.duration });
      var region = document.getElementById("app-bridge-stub-toasts");
      if (!region) {
        region = document.createElement("div");
        region.id = "app-bridge-stub-toasts";
        region.setAttribute("role", "status");
        document.body.appendChild(region);
      }
      var item = document.createElement("p");
      item.id = id;
      item.textContent = message;
      region.appendChild(item);
      return id;
    },
    hide: function (id) {
      var item = document.getElementById(id);
      if (item) {
        item.remove();
      }
    },
  };

  var loadingStates = [];

  window.shopify = {
    config: config,
    environment: { embedded: true, mobile: false, pos: false },
    idToken: idToken,
    toast: toast,
    loading: function (isLoading) {
      if (isLoading !== undefined) {
        loadingStates.push(Boolean(isLoading));
      }
      return loadingStates.length > 0 && loadingStates[loadingStates.length - 1];
    },
  };

  // On the bounce page (a `shopify-reload` parameter), App Bridge reloads the named page of this
  // app with a fresh session token as `id_token`; a page elsewhere is never loaded.
  var reload = query.get("shopify-reload");
  if (reload) {
    var target = new URL(reload, window.location.href);
    if (target.origin === window.location.origin) {
      idToken().then(function (token) {
        target.searchParams.set("id_token", token);
        window.location.replace(target.href);
      });
    }
  }
})();
