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
  window.storepulse = { api: api, toast: toast };

  function valueOf(el) {
    var kind = el.getAttribute("data-type") || el.type;
    if (el.type === "checkbox" || el.tagName === "S-CHECKBOX") return Boolean(el.checked);
    var value = el.value;
    // One entry a line (a list of addresses): blank lines left out, an empty box an empty list.
    if (kind === "lines") return String(value || "").split(/\r?\n/).map(function (line) { return line.trim(); }).filter(Boolean);
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
    (function walk(reasonsOf, prefix) {
      Object.keys(reasonsOf).forEach(function (key) {
        var reasons = reasonsOf[key], name = prefix + key;
        // A field inside a part (a destination's "config.url") is named with a dot in the form.
        if (reasons && typeof reasons === "object" && !Array.isArray(reasons)) walk(reasons, name + ".");
        else out[name] = Array.isArray(reasons) ? reasons.join(" ") : String(reasons);
      });
    })(source, "");
    return out;
  }

  function put(data, name, value) {
    // "config.url" goes to data.config.url: the API takes a destination's settings as one object.
    var parts = name.split("."), at = data;
    parts.slice(0, -1).forEach(function (part) { at = at[part] = at[part] || {}; });
    at[parts[parts.length - 1]] = value;
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
      if (upload) data.append(name, value); else put(data, name, value);
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
          var bar = region.querySelector("progress");  // the import page's bar
          if (bar && typeof answer.json.percent === "number") { bar.value = answer.json.percent; bar.textContent = answer.json.percent + "%"; }
        }
        window.setTimeout(ask, every);
      }, function () { window.setTimeout(ask, every * 2); });
    }
    window.setTimeout(ask, every);
  });

  // Leaderboard: a row's "Message customer" fetches that customer's message dialog (the profile's)
  // and opens it, one in the page at a time; once closed, focus goes back to the row's button.
  document.addEventListener("click", function (event) {
    var opener = event.target.closest ? event.target.closest("[data-message-url]") : null;
    if (!opener) return;
    event.preventDefault();
    opener.setAttribute("aria-busy", "true");
    var headers = { "Accept": "text/html", "X-Storepulse-Locale": body.getAttribute("data-locale") || "en" };
    fetch(opener.getAttribute("data-message-url"), { headers: headers, credentials: "same-origin" }).then(function (response) {
      return response.ok ? response.text() : Promise.reject(response.status);
    }).then(function (html) {
      opener.removeAttribute("aria-busy");
      var holder = document.createElement("div");
      holder.innerHTML = html;
      var dialog = holder.querySelector("dialog");
      if (!dialog || !dialog.showModal) return;
      var open = document.getElementById("message-dialog");
      if (open) open.remove();
      body.appendChild(dialog);
      dialog.querySelectorAll("[data-dialog-close]").forEach(function (closer) {
        closer.addEventListener("click", function () { dialog.close(); });
      });
      // The close event comes after the dialog has gone: focus goes back to the row's button only
      // if nothing else has taken it meanwhile (a keyboard user already moving on keeps their place).
      dialog.addEventListener("close", function () {
        var now = document.activeElement;
        if (!now || now === body || now === document.documentElement || dialog.contains(now)) opener.focus();
      });
      dialog.showModal();
    }, function () {
      opener.removeAttribute("aria-busy");
      toast(messages.failed);
    });
  });
})();

/* Carts page: a recovery link's Copy button puts the link on the clipboard and says so. */
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button || !navigator.clipboard) return;
    navigator.clipboard.writeText(button.getAttribute("data-copy")).then(function () {
      window.storepulse.toast(button.getAttribute("data-copied"));
    });
  });
})();

/* The RFM page: the grid of selects saved as a scheme of rectangles, and "Save as segment". */
(function () {
  "use strict";
  var api = window.storepulse && window.storepulse.api;
  if (!api) return;

  var note = window.storepulse.toast;

  function mark(form, name, text) {
    var input = form.querySelector('[name="' + name + '"]');
    var slot = form.querySelector('[data-error-for="' + name + '"]');
    if (input && input.tagName.indexOf("S-") === 0) {
      if (text) input.setAttribute("error", text); else input.removeAttribute("error");
    } else if (input) {
      if (text) input.setAttribute("aria-invalid", "true"); else input.removeAttribute("aria-invalid");
    }
    if (slot) { slot.textContent = text || ""; slot.hidden = !text; }
  }

  // Cells of one segment as few rules as possible: each rule a rectangle of R and F ranges.
  function rules(chosen) {
    var used = {}, out = [];
    for (var r = 1; r <= 5; r++) {
      for (var f = 1; f <= 5; f++) {
        var name = chosen["r" + r + "f" + f];
        if (!name || used[r + "," + f]) continue;
        var f2 = f;
        while (f2 < 5 && chosen["r" + r + "f" + (f2 + 1)] === name && !used[r + "," + (f2 + 1)]) f2++;
        var r2 = r;
        for (;;) {
          if (r2 === 5) break;
          var whole = true;
          for (var k = f; k <= f2; k++) {
            if (chosen["r" + (r2 + 1) + "f" + k] !== name || used[(r2 + 1) + "," + k]) { whole = false; break; }
          }
          if (!whole) break;
          r2++;
        }
        for (var a = r; a <= r2; a++) for (var b = f; b <= f2; b++) used[a + "," + b] = true;
        out.push({ name: name, r: [r, r2], f: [f, f2] });
      }
    }
    return out;
  }

  document.querySelectorAll("form[data-rfm-scheme]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var chosen = {};
      form.querySelectorAll("[name]").forEach(function (el) {
        var name = el.getAttribute("name");
        mark(form, name, "");
        chosen[name] = el.value || "";
      });
      var general = form.querySelector("[data-error]");
      general.hidden = true; general.textContent = "";
      var segments = rules(chosen);
      if (!segments.length) {  // no cell chosen at all: a scheme needs at least one segment
        segments = [];
        Object.keys(chosen).forEach(function (cell) { mark(form, cell, form.getAttribute("data-missing").replace("%(pair)s", cell.replace(/^r(\d)f(\d)$/, "R$1 F$2"))); });
        general.textContent = form.getAttribute("data-missing").replace("%(pair)s", "R1 F1");
        general.hidden = false;
        return;
      }
      form.setAttribute("aria-busy", "true");
      api("PUT", "/api/v1/rfm/scheme", { segments: segments }).then(function (answer) {
        form.removeAttribute("aria-busy");
        if (answer.ok) {
          note(form.getAttribute("data-success"));
          window.setTimeout(function () { window.location.reload(); }, 600);
          return;
        }
        var details = (answer.json && answer.json.details) || {};
        var named = [];
        Object.keys(details).forEach(function (cell) {
          var match = /^r(\d)f(\d)$/.exec(cell);
          if (!match) return;
          var pair = "R" + match[1] + " F" + match[2];
          var problem = String(details[cell]);
          var text = form.getAttribute(problem === "doubled" ? "data-doubled" : "data-missing").replace("%(pair)s", pair);
          mark(form, cell, text);
          named.push(text);
        });
        general.textContent = named.length ? named.join(" ") : ((answer.json && answer.json.message) || "");
        general.hidden = false;
        var first = form.querySelector('[aria-invalid="true"], [error]');
        if (first && first.focus) first.focus();
      });
    });
  });

  document.querySelectorAll("[data-save-region]").forEach(function (region) {
    var error = region.querySelector("[data-save-error]");
    region.addEventListener("click", function (event) {
      var button = event.target.closest("[data-save-segment]");
      if (!button) return;
      error.hidden = true;
      button.setAttribute("aria-busy", "true");
      var body = { name: button.getAttribute("data-name"), filter: JSON.parse(button.getAttribute("data-filter")) };
      api("POST", "/api/v1/segments", body).then(function (answer) {
        button.removeAttribute("aria-busy");
        if (answer.ok && answer.json) {
          window.location.assign(region.getAttribute("data-segment-url").replace("{id}", encodeURIComponent(answer.json.id)));
          return;
        }
        error.textContent = answer.json && answer.json.code === "name_taken"
          ? region.getAttribute("data-taken") : ((answer.json && answer.json.message) || "");
        error.hidden = false;
        button.focus();
      });
    });
  });
})();
