// hookrelay admin UI. htmx does the work; this file only makes failures visible: when an
// htmx request fails, the message the server sent (X-Error-Message) or a generic one is
// shown in the alert region at the top of the page instead of nothing happening.
(function () {
  "use strict";
  function box() { return document.getElementById("htmx-error"); }
  function show(msg) {
    var el = box();
    if (!el) { return; }
    el.textContent = msg;
    el.hidden = false;
  }
  function hide() {
    var el = box();
    if (el) { el.hidden = true; el.textContent = ""; }
  }
  document.addEventListener("htmx:responseError", function (evt) {
    var xhr = evt.detail.xhr;
    var msg = xhr.getResponseHeader("X-Error-Message");
    if (msg) {
      try { msg = decodeURIComponent(msg); } catch (e) { /* keep it as sent */ }
    } else {
      msg = "The action failed (HTTP " + xhr.status + "). Reload the page and try again.";
    }
    show(msg);
  });
  document.addEventListener("htmx:sendError", function () {
    show("Could not reach hookrelay. Check that the server is running, then try again.");
  });
  document.addEventListener("htmx:afterRequest", function (evt) {
    if (evt.detail.successful) { hide(); }
  });
})();
