// Vectis' only script besides htmx: show why an htmx request failed, in words, instead of doing nothing.
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
