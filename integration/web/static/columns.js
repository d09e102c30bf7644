/* The contact list's columns: a signed-in user's choice is kept with their account; inside the
   Shopify admin there is no user of ours, so the choice is kept in this browser and sent along in
   the address. */
(function () {
  "use strict";
  var KEY = "storepulse.contact_list.columns";
  var form = document.getElementById("contact-columns");
  if (!form) return;
  var embedded = document.body.classList.contains("embedded");

  function withColumns(value) {
    var url = new URL(window.location.href);
    url.searchParams.delete("cursor");
    if (value) url.searchParams.set("columns", value); else url.searchParams.delete("columns");
    return url.toString();
  }

  function stored() {
    try { return window.localStorage.getItem(KEY); } catch (e) { return null; }
  }

  if (embedded && !new URL(window.location.href).searchParams.has("columns")) {
    var kept = stored();
    if (kept && kept !== form.getAttribute("data-columns")) { window.location.replace(withColumns(kept)); return; }
  }

  form.addEventListener("storepulse:saved", function (event) {
    var answer = event.detail || {};
    var value = (answer.columns || []).join(",");
    if (answer.stored === "browser") {
      try { window.localStorage.setItem(KEY, value); } catch (e) { /* private mode: this page only */ }
      window.location.assign(withColumns(value));
    } else {
      window.location.assign(withColumns(""));
    }
  });
})();
