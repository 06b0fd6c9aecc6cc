// htmx requests carry the session's CSRF token (read from the page's <meta name="csrf-token">).
document.addEventListener("htmx:configRequest", function (event) {
  var meta = document.querySelector('meta[name="csrf-token"]');
  if (meta) {
    event.detail.headers["X-CSRF-Token"] = meta.getAttribute("content");
  }
});

// Live reloads settle: the feed passes on the router's, SLA monitor's and vendor gateway's events
// as Kafka delivers them, often before intake (which every page reads) has applied them. So each
// `[data-live-refresh]` element gets a "live-refresh" at once on a live event or resync, and again
// 1 s and 3 s after the latest one, when intake has caught up (it announces nothing when it has).
(function () {
  "use strict";
  var SETTLE_MS = [1000, 3000];
  var pending = [];

  function refreshAll() {
    var targets = document.querySelectorAll("[data-live-refresh]");
    for (var i = 0; i < targets.length; i++) {
      htmx.trigger(targets[i], "live-refresh");
    }
  }

  document.addEventListener("htmx:sseMessage", function (event) {
    var type = event.detail && event.detail.type;
    if (type !== "incident" && type !== "resync") {
      return;
    }
    refreshAll();
    for (var i = 0; i < pending.length; i++) {
      clearTimeout(pending[i]);
    }
    pending = SETTLE_MS.map(function (ms) {
      return setTimeout(refreshAll, ms);
    });
  });
})();
