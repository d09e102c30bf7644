/* storepulse admin: changes go to the JSON API by fetch (inside Shopify, App Bridge adds the
   session token to every fetch; outside, the cookie session carries the CSRF token header). */
(function () {
  "use strict";
  var body = document.body;
  var messages = JSON.parse(body.getAttribute("data-messages") || "{}");
  var csrf = document.querySelector('meta[name="csrf-token"]');

  function api(method, url, data) {
    // The page's language: the API then gives its reasons for refusing a field in it.
    var headers = { "Accept": "application/json", "X-Storepulse-Locale": body.getAttribute("data-locale") || "en" };
    if (csrf) headers["X-CSRFToken"] = csrf.content;
    var init = { method: method, headers: headers, credentials: "same-origin" };
    if (data instanceof FormData) {
      init.body = data;  // the browser sets the multipart boundary
    } else if (data !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(data);
    }
    return fetch(url, init).then(function (response) {
      return response.text().then(function (text) {
        var json = null;
        try { json = text ? JSON.parse(text) : null; } catch (e) { json = null; }
        return { ok: response.ok, status: response.status, json: json };
      });
    });
  }
  window.storepulse = { api: api };

  function valueOf(el) {
    var kind = el.getAttribute("data-type") || el.type;
    if (el.type === "checkbox" || el.tagName === "S-CHECKBOX") return Boolean(el.checked);
    var value = el.value;
    if (value === "" || value === undefined || value === null) return undefined;
    if (kind === "number" || kind === "integer") return Number(value);
    return value;
  }

  function setError(form, name, text) {
    var slot = form.querySelector('[data-error-for="' + name + '"]');
    var input = form.querySelector('[name="' + name + '"]');
    if (input) {
      if (input.tagName.indexOf("S-") === 0) {
        if (text) input.setAttribute("error", text); else input.removeAttribute("error");
      } else if (text) input.setAttribute("aria-invalid", "true"); else input.removeAttribute("aria-invalid");
    }
    if (slot) { slot.textContent = text || ""; slot.hidden = !text; }
    return Boolean(slot || input);
  }

  function flatten(details) {
    // flask-smorest nests field errors under the location ("json"); list the first reason of each.
    var out = {};
    if (!details) return out;
    var source = details.json || details.query || details.form || details;
    Object.keys(source).forEach(function (name) {
      var reasons = source[name];
      out[name] = Array.isArray(reasons) ? reasons.join(" ") : (typeof reasons === "string" ? reasons : JSON.stringify(reasons));
    });
    return out;
  }

  function toast(text) {
    if (window.shopify && window.shopify.toast) { window.shopify.toast.show(text); return; }
    var live = document.getElementById("live");
    if (!live) {
      live = document.createElement("p");
      live.id = "live"; live.className = "toast"; live.setAttribute("role", "status");
      body.appendChild(live);
    }
    live.textContent = text;
  }

  function submit(form) {
    var upload = form.hasAttribute("data-upload");
    var data = upload ? new FormData() : {};
    form.querySelectorAll("[name]").forEach(function (el) {
      var name = el.getAttribute("name");
      setError(form, name, "");
      if (upload && el.type === "file") { if (el.files && el.files[0]) data.append(name, el.files[0]); return; }
      var value = valueOf(el);
      if (value === undefined) return;
      if (upload) data.append(name, value); else data[name] = value;
    });
    var general = form.querySelector("[data-error]");
    if (general) { general.hidden = true; general.textContent = ""; }
    var method = form.getAttribute("data-method") || "POST";
    form.setAttribute("aria-busy", "true");
    return api(method, form.getAttribute("data-action"), method === "DELETE" ? undefined : data).then(function (answer) {
      form.removeAttribute("aria-busy");
      if (answer.ok) {
        var result = form.parentNode.querySelector("[data-result]");
        if (result && answer.json) {
          result.querySelectorAll("[data-result-field]").forEach(function (slot) {
            var value = answer.json[slot.getAttribute("data-result-field")];
            if (value !== undefined && value !== null) slot.textContent = value;
          });
          result.hidden = false;
        }
        toast(form.getAttribute("data-success") || messages.saved);
        var next = form.getAttribute("data-next");
        if (next) {
          // e.g. an upload's page of progress: "{id}" becomes the answer's id
          window.location.assign(next.replace(/\{(\w+)\}/g, function (all, field) {
            return answer.json && answer.json[field] !== undefined ? encodeURIComponent(answer.json[field]) : all;
          }));
        } else if (form.getAttribute("data-reload")) window.setTimeout(function () { window.location.reload(); }, 600);
        form.dispatchEvent(new CustomEvent("storepulse:saved", { detail: answer.json, bubbles: true }));
        return;
      }
      // A refusal the page knows by its code is said in the page's language; its details (a date,
      // a number of days) are facts for the text, not reasons by field.
      var refusals = JSON.parse(form.getAttribute("data-refusals") || "{}");
      var known = answer.json && refusals[answer.json.code];
      var fields = known ? {} : flatten(answer.json && answer.json.details);
      var unplaced = [];
      Object.keys(fields).forEach(function (name) { if (!setError(form, name, fields[name])) unplaced.push(fields[name]); });
      if (general) {
        // Reasons by field are shown beside their fields, in the page's language; the general line says so.
        var text = known || (Object.keys(fields).length ? messages.failed
          : ((answer.json && answer.json.message) || messages.failed));
        if (unplaced.length) text += " " + unplaced.join(" ");
        general.textContent = text; general.hidden = false;
      }
      var first = form.querySelector('[aria-invalid="true"], [error]');
      if (first && first.focus) first.focus();
    }, function () {
      form.removeAttribute("aria-busy");
      if (general) { general.textContent = messages.offline; general.hidden = false; }
    });
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.classList || !form.classList.contains("api-form")) return;
    event.preventDefault();
    var question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) return;
    submit(form);
  });

  document.addEventListener("click", function (event) {
    var trigger = event.target.closest ? event.target.closest("[data-api-call]") : null;
    if (!trigger) return;
    event.preventDefault();
    var parts = trigger.getAttribute("data-api-call").split(" ");
    var question = trigger.getAttribute("data-confirm");
    if (question && !window.confirm(question)) return;
    api(parts[0], parts[1]).then(function (answer) {
      if (answer.ok) { toast(trigger.getAttribute("data-success") || messages.saved); window.setTimeout(function () { window.location.reload(); }, 600); }
      else toast((answer.json && answer.json.message) || messages.failed);
    });
  });

  // A modal dialog: its opener shows it (the browser moves focus in and closes it on Escape);
  // once closed, focus goes back to the opener.
  document.querySelectorAll("[data-dialog-open]").forEach(function (opener) {
    var dialog = document.getElementById(opener.getAttribute("data-dialog-open"));
    if (!dialog || !dialog.showModal) return;
    opener.addEventListener("click", function () { dialog.showModal(); });
    dialog.addEventListener("close", function () { opener.focus(); });
    dialog.querySelectorAll("[data-dialog-close]").forEach(function (closer) {
      closer.addEventListener("click", function () { dialog.close(); });
    });
  });

  // A region that waits for work in the background (a reclassification, a backfill, an import):
  // asks its URL every few seconds and reloads the page once the answer says `ready`.
  document.querySelectorAll("[data-poll]").forEach(function (region) {
    var every = Number(region.getAttribute("data-poll-every") || 3) * 1000;
    function ask() {
      api("GET", region.getAttribute("data-poll")).then(function (answer) {
        if (answer.ok && answer.json && answer.json.ready) { window.location.reload(); return; }
        if (answer.ok && answer.json && answer.json.text) {
          var text = region.querySelector("[data-poll-text]");
          if (text) text.textContent = answer.json.text;
        }
        window.setTimeout(ask, every);
      }, function () { window.setTimeout(ask, every * 2); });
    }
    window.setTimeout(ask, every);
  });
})();
