// The incident page reloads its fragments when the live feed names this incident (or asks for a
// resync): the details always, the actions only while none of their forms is being filled in (so a
// half-written note is never lost; the actions reload after the next event instead). Reloads are
// throttled and settled as console.js's tierline.settled says (at once, 1 s and 3 s after the latest
// event, at most once a second). After an action, focus moves to its notice or error.
(function () {
  "use strict";

  function page() {
    return document.querySelector(".incident-page[data-incident-id]");
  }

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

  var refresh = window.tierline.settled(function () {
    htmx.trigger(document.body, "incident-changed");
    var panel = document.getElementById("incident-actions");
    if (panel && !beingFilledIn(panel)) {
      htmx.trigger(document.body, "incident-actions-stale");
    }
  });

  document.addEventListener("htmx:sseMessage", function (event) {
    var here = page();
    var message = event.detail;
    if (!here || !message) {
      return;
    }
    if (message.type === "resync") {
      refresh();
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
    if (data && data.incident_id === here.getAttribute("data-incident-id")) {
      refresh();
    }
  });

  document.addEventListener("tierline:reconnected", function () {
    if (page()) {
      refresh.once();
    }
  });

  // An action's answer replaces the actions panel: focus its notice or error, so it is read out
  // and the keyboard starts from there (a live reload of the panel moves no focus).
  document.addEventListener("htmx:afterSwap", function (event) {
    var detail = event.detail;
    var verb = detail.requestConfig && String(detail.requestConfig.verb).toLowerCase();
    if (!detail.target || detail.target.id !== "incident-actions" || verb === "get") {
      return;
    }
    var said = detail.target.querySelector(".error, .notice, .field-error");
    if (said) {
      said.setAttribute("tabindex", "-1");
      said.focus();
    }
  });
})();
