/* The filter builder: edits a filter of the one filter language (integration/audiences/filters.py)
   as nested groups of conditions with native, labelled controls, and asks the server how many
   contacts it selects as the merchant edits. The fields come from the page (data-catalog), built on
   the server from the language's conditions. Needs admin.js (window.storepulse.api). */
(function () {
  "use strict";
  var root = document.querySelector("[data-builder]");
  if (!root) return;
  var catalog = JSON.parse(root.getAttribute("data-catalog"));
  var words = catalog.words;
  var fields = {};
  catalog.fields.forEach(function (f) { fields[f.key] = f; });
  var page = JSON.parse(root.getAttribute("data-messages") || "{}");
  var previewUrl = root.getAttribute("data-preview");
  var countArea = document.querySelector("[data-count]");
  var sampleArea = document.querySelector("[data-sample]");
  var matching = document.querySelector("[data-show-matching]");
  var serial = 0;

  // ---- the tree: groups (all / any / none = not any) of conditions and groups ----
  function group(mode, parts) { return { type: "group", id: ++serial, mode: mode, parts: parts || [] }; }
  function leaf(key, value) { return { type: "leaf", id: ++serial, key: key, value: value }; }

  function load(filter) {
    var key = Object.keys(filter || {})[0];
    if (!key) return group("all", []);
    if (key === "all" || key === "any") return group(key, filter[key].map(load));
    if (key === "not") {
      var inner = filter.not, innerKey = Object.keys(inner)[0];
      return group("none", innerKey === "any" ? inner.any.map(load) : [load(inner)]);
    }
    return leaf(key, editable(key, filter[key]));
  }

  // A condition's value as its editor holds it (text in inputs), and back in the language's shape.
  function editable(key, value) {
    var kind = fields[key].kind;
    if (kind === "product") {
      var by = value && value.sku !== undefined ? "sku" : "product_id";
      return { by: by, id: value ? value[by] || "" : "", within_days: value && value.within_days != null ? String(value.within_days) : "" };
    }
    if (kind === "count_range" || kind === "money_range") {
      var out = { min: value && value.min != null ? String(value.min) : "", max: value && value.max != null ? String(value.max) : "" };
      if (kind === "money_range") out.currency = (value && value.currency) || fields[key].currency;
      return out;
    }
    if (kind === "days" || kind === "store") return value == null ? "" : String(value);
    if (kind === "boolean") return value === false ? "false" : "true";
    return value;
  }

  function number(text) { return text === "" || text == null ? null : (/^-?\d+$/.test(text.trim()) ? Number(text) : text); }
  function amount(text) { return text === "" || text == null ? null : text.trim().replace(",", "."); }

  function language(node) {
    var v = node.value, kind = fields[node.key].kind, out;
    if (kind === "days" || kind === "store") out = number(v);
    else if (kind === "boolean") out = v === "true";
    else if (kind === "count_range") out = { min: number(v.min), max: number(v.max) };
    else if (kind === "money_range") out = { currency: (v.currency || "").trim().toUpperCase(), min: amount(v.min), max: amount(v.max) };
    else if (kind === "product") {
      out = {}; out[v.by] = v.id.trim();
      if (v.within_days !== "") out.within_days = number(v.within_days);
    } else out = v;
    var condition = {}; condition[node.key] = out; return condition;
  }

  function dump(node) {
    if (node.type === "leaf") return language(node);
    var parts = node.parts.map(dump);
    if (node.mode === "none") return { not: { any: parts } };
    var out = {}; out[node.mode] = parts; return out;
  }

  function fresh(key) {
    var f = fields[key], kind = f.kind;
    if (kind === "choices") return f.choices.length ? [f.choices[0][0]] : [];
    if (kind === "days") return "30";
    if (kind === "count_range") return { min: "1", max: "" };
    if (kind === "money_range") return { currency: f.currency, min: "100.00", max: "" };
    if (kind === "product") return { by: "product_id", id: "", within_days: "" };
    if (kind === "store") return f.choices.length ? f.choices[0][0] : "";
    if (kind === "boolean") return "true";
    return "";
  }

  var tree = load(JSON.parse(root.getAttribute("data-filter") || "{}"));
  if (tree.type === "leaf") tree = group("all", [tree]);

  // ---- drawing ----
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      if (attrs[name] === null || attrs[name] === undefined || attrs[name] === false) return;
      if (name === "text") node.textContent = attrs[name]; else node.setAttribute(name, attrs[name]);
    });
    (children || []).forEach(function (child) { if (child) node.appendChild(child); });
    return node;
  }
  function say(template, n) { return template.replace("%(n)s", n); }

  function labelled(id, label, control) {
    return el("div", { "class": "field" }, [el("label", { "for": id, text: label }), control]);
  }

  function input(id, value, onInput, attrs) {
    var box = el("input", Object.assign({ id: id, type: "text", value: value, "aria-describedby": attrs && attrs.describedby }, attrs && attrs.html));
    box.value = value;
    box.addEventListener("input", function () { onInput(box.value); changed(); });
    return box;
  }

  function select(id, options, value, onChange) {
    var box = el("select", { id: id });
    options.forEach(function (o) {
      var option = el("option", { value: o[0], text: o[1] });
      if (String(o[0]) === String(value)) option.selected = true;
      box.appendChild(option);
    });
    box.addEventListener("change", function () { onChange(box.value); });
    return box;
  }

  function editor(node, base, describedby) {
    var f = fields[node.key], v = node.value, parts = [];
    var unit = f.unit ? " (" + f.unit + ")" : "";
    var extra = { describedby: describedby };
    if (f.kind === "choices") {
      var set = el("fieldset", { "class": "checks" }, [el("legend", { text: words.value })]);
      f.choices.forEach(function (choice, i) {
        var box = el("input", { type: "checkbox", id: base + "-c" + i, value: choice[0], "aria-describedby": describedby });
        box.checked = v.indexOf(choice[0]) !== -1;
        box.addEventListener("change", function () {
          node.value = f.choices.map(function (c) { return c[0]; }).filter(function (value, n) {
            return document.getElementById(base + "-c" + n).checked;
          });
          changed();
        });
        set.appendChild(el("label", { "for": base + "-c" + i }, [box, document.createTextNode(" " + choice[1])]));
      });
      parts.push(set);
    } else if (f.kind === "days" || f.kind === "text") {
      parts.push(labelled(base + "-v", words.value + unit,
        input(base + "-v", v, function (text) { node.value = text; }, { describedby: describedby, html: f.kind === "days" ? { inputmode: "numeric" } : {} })));
    } else if (f.kind === "count_range" || f.kind === "money_range") {
      if (f.kind === "money_range") {
        parts.push(labelled(base + "-cur", words.currency, input(base + "-cur", v.currency, function (t) { v.currency = t; }, { describedby: describedby, html: { maxlength: "3", size: "4" } })));
      }
      parts.push(labelled(base + "-min", words.min, input(base + "-min", v.min, function (t) { v.min = t; }, { describedby: describedby, html: { inputmode: f.kind === "money_range" ? "decimal" : "numeric" } })));
      parts.push(labelled(base + "-max", words.max, input(base + "-max", v.max, function (t) { v.max = t; }, { describedby: describedby, html: { inputmode: f.kind === "money_range" ? "decimal" : "numeric" } })));
    } else if (f.kind === "product") {
      parts.push(labelled(base + "-by", words.product_by, select(base + "-by", [["product_id", words.product_id], ["sku", words.sku]], v.by, function (value) { v.by = value; changed(); })));
      parts.push(labelled(base + "-id", words.product, input(base + "-id", v.id, function (t) { v.id = t; }, extra)));
      parts.push(labelled(base + "-days", words.any_time, input(base + "-days", v.within_days, function (t) { v.within_days = t; }, { describedby: describedby, html: { inputmode: "numeric" } })));
    } else {
      parts.push(labelled(base + "-v", words.value, select(base + "-v", f.choices, v, function (value) { node.value = value; changed(); })));
    }
    return parts;
  }

  function drawLeaf(node, path, parent) {
    var base = "c" + node.id;
    var name = say(words.condition_n, path.map(function (n) { return n + 1; }).join("."));
    var fieldSelect = select(base + "-field", catalog.fields.map(function (f) { return [f.key, f.label]; }), node.key, function (key) {
      node.key = key; node.value = fresh(key); redraw(base + "-field");
    });
    var describedby = base + "-error " + base + "-words";
    var remove = el("button", { type: "button", "class": "button button-tertiary", "data-remove-condition": "", "aria-label": words.remove_condition + ": " + name, text: words.remove_condition });
    remove.addEventListener("click", function () { removeFrom(parent, node); });
    return el("li", { "class": "condition", "data-condition": node.key, "data-path": path.join("."), id: base }, [
      labelled(base + "-field", name, fieldSelect),
      el("div", { "class": "condition-value" }, editor(node, base, describedby)),
      el("p", { "class": "field-error", id: base + "-error", "data-condition-error": "", hidden: "hidden" }),
      el("p", { "class": "words", id: base + "-words", "data-words": "" }),
      el("p", { "class": "help", "data-not-set": "", hidden: "hidden" }),
      remove
    ]);
  }

  function drawGroup(node, path, parent) {
    var base = "g" + node.id;
    var name = path.length ? say(words.group_n, path.map(function (n) { return n + 1; }).join(".")) : words.conditions;
    var mode = select(base + "-mode", [["all", words.all], ["any", words.any], ["none", words.none]], node.mode, function (value) {
      node.mode = value; changed();
    });
    var list = el("ol", { "class": "parts" });
    node.parts.forEach(function (part, n) {
      list.appendChild(part.type === "group" ? el("li", {}, [drawGroup(part, path.concat([n]), node)]) : drawLeaf(part, path.concat([n]), node));
    });
    var addCondition = el("button", { type: "button", "class": "button", "data-add-condition": "", "aria-label": words.add_condition + ": " + name, text: words.add_condition });
    addCondition.addEventListener("click", function () {
      var added = leaf(catalog.fields[0].key, fresh(catalog.fields[0].key));
      node.parts.push(added); redraw("c" + added.id + "-field");
    });
    var addGroup = el("button", { type: "button", "class": "button", "data-add-group": "", "aria-label": words.add_group + ": " + name, text: words.add_group });
    addGroup.addEventListener("click", function () {
      var added = group("any", [leaf(catalog.fields[0].key, fresh(catalog.fields[0].key))]);
      node.parts.push(added); redraw("g" + added.id + "-mode");
    });
    var actions = el("p", { "class": "group-actions" }, [addCondition, document.createTextNode(" "), addGroup]);
    if (parent) {
      var remove = el("button", { type: "button", "class": "button button-tertiary", "data-remove-group": "", "aria-label": words.remove_group + ": " + name, text: words.remove_group });
      remove.addEventListener("click", function () { removeFrom(parent, node); });
      actions.appendChild(document.createTextNode(" "));
      actions.appendChild(remove);
    }
    return el("fieldset", { "class": "group", id: base, "data-group": node.mode, "data-path": path.join(".") }, [
      el("legend", { text: name }),
      labelled(base + "-mode", words.match, mode),
      node.parts.length ? list : el("p", { "class": "muted", text: words.empty_group }),
      actions
    ]);
  }

  function removeFrom(parent, node) {
    var at = parent.parts.indexOf(node);
    parent.parts.splice(at, 1);
    // Focus the condition that took its place, else the one before it, else the group's add button.
    var next = parent.parts[at] || parent.parts[at - 1];
    redraw(next ? (next.type === "group" ? "g" + next.id + "-mode" : "c" + next.id + "-field") : null, parent);
  }

  function redraw(focusId, emptied) {
    root.textContent = "";
    root.appendChild(drawGroup(tree, [], null));
    var target = focusId ? document.getElementById(focusId) : null;
    if (!target && emptied) target = document.querySelector("#g" + emptied.id + " [data-add-condition]");
    if (target) target.focus();
    changed();
  }

  // ---- the live count ----
  var timer = null, asked = 0;
  function changed() {
    window.clearTimeout(timer);
    timer = window.setTimeout(preview, 400);
  }

  function showWords(answer) {
    root.querySelectorAll("[data-condition]").forEach(function (item) {
      var path = item.getAttribute("data-path");
      var error = (answer.errors || {})[path];
      var said = (answer.words || {})[path];
      var errorSlot = item.querySelector("[data-condition-error]");
      errorSlot.textContent = error || ""; errorSlot.hidden = !error;
      item.querySelectorAll("input, select").forEach(function (control) {
        if (error) control.setAttribute("aria-invalid", "true"); else control.removeAttribute("aria-invalid");
      });
      if (answer.words) {
        item.querySelector("[data-words]").textContent = said ? said.text : "";
        var note = item.querySelector("[data-not-set]");
        note.textContent = said && said.not_set ? said.not_set : ""; note.hidden = !(said && said.not_set);
      }
    });
  }

  function preview() {
    var mine = ++asked;
    countArea.setAttribute("aria-busy", "true");
    window.storepulse.api("POST", previewUrl, { filter: dump(tree) }).then(function (answer) {
      if (mine !== asked) return;  // a later edit asked again: its answer is the one to show
      countArea.removeAttribute("aria-busy");
      var json = answer.json || {};
      showWords(json);
      sampleArea.textContent = "";
      if (!answer.ok) {
        countArea.setAttribute("data-count", "");
        countArea.textContent = json.errors ? page.incomplete : (json.message || page.failed);
        if (json.errors && json.errors[""]) countArea.textContent += " " + json.errors[""];
        if (matching) matching.hidden = true;
        return;
      }
      countArea.setAttribute("data-count", String(json.count));
      countArea.textContent = json.count_text;
      json.contacts.forEach(function (c) {
        sampleArea.appendChild(el("li", { text: c.email + (c.name ? " · " + c.name : "") + " · " + c.group }));
      });
      if (matching) { matching.setAttribute("href", json.contacts_url); matching.hidden = false; }
    }, function () {
      if (mine !== asked) return;
      countArea.removeAttribute("aria-busy");
      countArea.textContent = page.offline;
    });
  }

  // ---- saving ----
  var form = document.querySelector("[data-segment-form]");
  function fieldError(name, text) {
    var control = form.querySelector('[name="' + name + '"]');
    var slot = form.querySelector('[data-error-for="' + name + '"]');
    if (control) {
      if (control.tagName.indexOf("S-") === 0) { if (text) control.setAttribute("error", text); else control.removeAttribute("error"); }
      else if (text) control.setAttribute("aria-invalid", "true"); else control.removeAttribute("aria-invalid");
    }
    if (slot) { slot.textContent = text || ""; slot.hidden = !text; }
    return control;
  }
  if (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var general = form.querySelector("[data-error]");
      general.hidden = true; general.textContent = "";
      fieldError("name", ""); fieldError("description", "");
      var name = form.querySelector('[name="name"]').value || "";
      var description = form.querySelector('[name="description"]').value || "";
      var body = { name: name.trim(), description: description.trim() || null, filter: dump(tree) };
      form.setAttribute("aria-busy", "true");
      window.storepulse.api(form.getAttribute("data-method"), form.getAttribute("data-action"), body).then(function (answer) {
        form.removeAttribute("aria-busy");
        var json = answer.json || {};
        if (answer.ok) { window.location.assign(form.getAttribute("data-next").replace("{id}", encodeURIComponent(json.id))); return; }
        var details = (json.details && json.details.json) || {};
        var first = null;
        if (json.code === "name_taken") first = fieldError("name", page.name_taken);
        ["name", "description"].forEach(function (field) {
          if (details[field]) first = first || fieldError(field, [].concat(details[field]).join(" "));
        });
        general.textContent = details.filter || json.code === "invalid_filter" ? page.filter_invalid : (first ? page.failed : (json.message || page.failed));
        general.hidden = false;
        if (first && first.focus) first.focus();
        if (!first) preview();  // show which condition is refused
      }, function () {
        form.removeAttribute("aria-busy");
        general.textContent = page.offline; general.hidden = false;
      });
    });
  }

  redraw(null);
})();
