// Vectis' only script besides htmx: show why an htmx request failed, in words, instead of doing nothing.
// A 422 is a form sent back with its reason and the user's words in it: swap it in like a success.
htmx.config.responseHandling = [
  { code: "204", swap: false },
  { code: "[23]..", swap: true },
  { code: "422", swap: true },
  { code: "[45]..", swap: false, error: true },
  { code: "...", swap: true }
];
(function () {
  function show(message) {
    var region = document.getElementById("flash");
    if (!region) { return; }
    var box = document.createElement("div");
    box.className = "flash flash-error";
    box.setAttribute("role", "alert");
    box.textContent = message;
    region.replaceChildren(box);
  }
  document.addEventListener("htmx:responseError", function (evt) {
    var xhr = evt.detail.xhr;
    show(xhr.getResponseHeader("X-Vectis-Error") ||
      "Something went wrong (HTTP " + xhr.status + "). Nothing was changed; try again.");
  });
  document.addEventListener("htmx:sendError", function () {
    show("Vectis could not be reached. Check your connection and try again.");
  });
})();

// Ctrl+K / Cmd+K on every page: type a customer's name, Enter opens its hub.
(function () {
  function items() { return Array.prototype.slice.call(document.querySelectorAll("#palette-results .palette-item")); }
  function select(index) {
    var all = items();
    all.forEach(function (item, i) { item.setAttribute("aria-selected", i === index ? "true" : "false"); });
  }
  function current() {
    var all = items();
    for (var i = 0; i < all.length; i++) { if (all[i].getAttribute("aria-selected") === "true") { return i; } }
    return all.length ? 0 : -1;
  }
  document.addEventListener("keydown", function (evt) {
    var palette = document.getElementById("palette");
    if (!palette) { return; }
    if ((evt.ctrlKey || evt.metaKey) && evt.key.toLowerCase() === "k") {
      evt.preventDefault();
      if (!palette.open) { palette.showModal(); }
      var input = document.getElementById("palette-q");
      input.select();
      input.focus();
      return;
    }
    if (!palette.open) { return; }
    var index = current();
    if (evt.key === "ArrowDown" || evt.key === "ArrowUp") {
      evt.preventDefault();
      var count = items().length;
      if (count) { select((index + (evt.key === "ArrowDown" ? 1 : count - 1)) % count); }
    } else if (evt.key === "Enter") {
      evt.preventDefault();
      var chosen = items()[index];
      if (chosen) { window.location.href = chosen.href; } else { pending = true; }  // results still on their way
    }
  });
  var pending = false;
  document.addEventListener("htmx:afterSwap", function (evt) {
    if (pending && evt.detail.target.id === "palette-results") {
      pending = false;
      var first = items()[0];
      if (first) { window.location.href = first.href; }
    }
  });
})();

// Behaviour templates ask for by attribute, so no page carries an inline handler (the policy allows none).
(function () {
  // <form data-confirm="Delete this rule?">: ask before it is sent.
  document.addEventListener("submit", function (evt) {
    var form = evt.target;
    if (form instanceof HTMLFormElement && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      evt.preventDefault();
    }
  }, true);
  // <input data-select-on-focus>: the one-time link is selected whole, ready to copy.
  document.addEventListener("focusin", function (evt) {
    if (evt.target instanceof HTMLInputElement && evt.target.hasAttribute("data-select-on-focus")) { evt.target.select(); }
  });
  // <button data-nav-toggle>: on narrow screens the navigation folds away behind this button.
  document.addEventListener("click", function (evt) {
    var toggle = evt.target instanceof Element ? evt.target.closest("[data-nav-toggle]") : null;
    if (!toggle) { return; }
    var open = toggle.closest("[data-sidebar]").classList.toggle("is-open");
    toggle.setAttribute("aria-expanded", String(open));
  });
  document.addEventListener("keydown", function (evt) {
    var sidebar = document.querySelector("[data-sidebar].is-open");
    if (evt.key !== "Escape" || !sidebar) { return; }
    sidebar.classList.remove("is-open");
    var toggle = sidebar.querySelector("[data-nav-toggle]");
    toggle.setAttribute("aria-expanded", "false");
    toggle.focus();
  });
  // <button data-toggle-next-row>: show or hide the table row after this one (the audit log's details).
  document.addEventListener("click", function (evt) {
    var button = evt.target instanceof Element ? evt.target.closest("[data-toggle-next-row]") : null;
    if (!button) { return; }
    var row = button.closest("tr").nextElementSibling;
    row.hidden = !row.hidden;
    button.setAttribute("aria-expanded", String(!row.hidden));
  });
})();

// == Alerts (issue 16): a row's evidence on demand, the ⋯ menus, selecting rows for bulk actions ==
(function () {
  function closeMenus(except) {
    document.querySelectorAll("details[data-menu][open]").forEach(function (menu) {
      if (!except || !menu.contains(except)) { menu.open = false; }
    });
  }
  document.addEventListener("click", function (evt) {
    var target = evt.target instanceof Element ? evt.target : null;
    closeMenus(target);  // one menu open at a time; a click anywhere else closes it
    var toggle = target ? target.closest("[data-alert-toggle]") : null;
    // The title links to the alert's own page; a plain click opens its evidence in place instead.
    if (!toggle || evt.button !== 0 || evt.ctrlKey || evt.metaKey || evt.shiftKey) { return; }
    var row = document.getElementById(toggle.getAttribute("aria-controls"));
    if (!row) { return; }
    evt.preventDefault();
    row.hidden = !row.hidden;
    toggle.setAttribute("aria-expanded", String(!row.hidden));
  });
  document.addEventListener("keydown", function (evt) {
    if (evt.key === "Escape") { closeMenus(null); }
  });

  function boxes(form) {
    return Array.prototype.slice.call(document.querySelectorAll('input[type="checkbox"][form="' + form.id + '"]'));
  }
  function refresh(form) {
    var all = boxes(form);
    var chosen = all.filter(function (box) { return box.checked; }).length;
    form.querySelector("[data-bulk-count]").textContent =
      chosen ? chosen + " selected" : "Tick alerts to act on several at once";
    form.querySelectorAll('button[name="action"]').forEach(function (button) { button.disabled = !chosen; });
    var header = document.querySelector("[data-select-all]");
    if (header) {
      header.checked = chosen > 0 && chosen === all.length;
      header.indeterminate = chosen > 0 && chosen < all.length;
    }
  }
  document.addEventListener("change", function (evt) {
    var box = evt.target;
    var form = document.querySelector("form[data-bulk]");
    if (!(box instanceof HTMLInputElement) || !form) { return; }
    if (box.hasAttribute("data-select-all")) {
      boxes(form).forEach(function (each) { each.checked = box.checked; });
    } else if (box.getAttribute("form") !== form.id) {
      return;
    }
    refresh(form);
  });
  htmx.onLoad(function () {
    var form = document.querySelector("form[data-bulk]");
    if (form) { refresh(form); }
  });

  // <form data-drop-empty>: its empty fields stay out of the URL it asks for and puts in the address bar.
  document.addEventListener("htmx:configRequest", function (evt) {
    if (!evt.detail.elt.hasAttribute("data-drop-empty")) { return; }
    Array.from(evt.detail.formData.keys()).forEach(function (name) {
      if (evt.detail.formData.getAll(name).every(function (value) { return value === ""; })) {
        delete evt.detail.parameters[name];
      }
    });
  });
})();

// Admin → Audit log: a value too long to show whole. <button data-show-all="Show less"> inside a [data-clamp] box
// swaps the box's [data-clamp-short] and [data-clamp-full] parts, and its own label with the attribute's.
(function () {
  document.addEventListener("click", function (evt) {
    var button = evt.target instanceof Element ? evt.target.closest("[data-show-all]") : null;
    if (!button) { return; }
    var box = button.closest("[data-clamp]");
    var short = box.querySelector("[data-clamp-short]");
    var full = box.querySelector("[data-clamp-full]");
    var opening = full.hidden;
    full.hidden = !opening;
    short.hidden = opening;
    var label = button.textContent;
    button.textContent = button.dataset.showAll;
    button.dataset.showAll = label;
    button.setAttribute("aria-expanded", String(opening));
  });
})();
