// The incident page reloads its fragments when the live feed names this incident (or asks for a
// resync): the details always, the actions only while none of their forms is being filled in (so a
// half-written note is never lost; the actions reload after the next event instead).
(function () {
  "use strict";

  function beingFilledIn(panel) {
    if (panel.contains(document.activeElement) && document.activeElement.matches("input, textarea, select")) {
      return true;
    }
    var fields = panel.querySelectorAll("input[type=text], textarea");
    for (var i = 0; i < fields.length; i++) {
      if (fields[i].value !== fields[i].defaultValue) {
        return true;
      }
    }
    return false;
  }

  function reload(page) {
    htmx.trigger(document.body, "incident-changed");
    var panel = page.querySelector("#incident-actions");
    if (panel && !beingFilledIn(panel)) {
      htmx.trigger(document.body, "incident-actions-stale");
    }
  }

  // At once, then again 1 s and 3 s after the latest event: other services' events reach the
  // feed before intake (which the page reads) has applied them, and intake announces nothing then.
  var settling = [];
  function refresh(page) {
    reload(page);
    settling.forEach(clearTimeout);
    settling = [1000, 3000].map(function (ms) {
      return setTimeout(function () { reload(page); }, ms);
    });
  }

  document.addEventListener("htmx:sseMessage", function (event) {
    var page = event.target.closest ? event.target.closest("[data-incident-id]") : null;
    var message = event.detail;
    if (!page || !message) {
      return;
    }
    if (message.type === "resync") {
      refresh(page);
      return;
    }
    if (message.type !== "incident") {
      return;
    }
    var data;
    try {
      data = JSON.parse(message.data);
    } catch (e) {
      return;
    }
    if (data && data.incident_id === page.getAttribute("data-incident-id")) {
      refresh(page);
    }
  });
})();
