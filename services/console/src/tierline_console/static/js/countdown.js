// SLA countdowns tick in the browser. The server renders each one's text as of the page, and on a
// running clock data-left (signed seconds left then) and data-due (ISO due time); this script counts
// down from data-left by the browser's monotonic clock, so a skewed browser clock changes nothing.
// Past due the figure turns negative and red, and its words (title and hidden label) say "breached";
// colours from warnings come with the server's reloads. (The CSS adds a glyph to amber and red.)
(function () {
  "use strict";
  var seen = new WeakMap();

  function pad(n) {
    return (n < 10 ? "0" : "") + n;
  }

  function format(seconds) {
    var whole = Math.floor(Math.abs(seconds));
    var sign = seconds < 0 && whole > 0 ? "-" : "";
    var days = Math.floor(whole / 86400);
    var hours = Math.floor((whole % 86400) / 3600);
    var minutes = Math.floor((whole % 3600) / 60);
    var secs = whole % 60;
    if (days) {
      return sign + days + "d " + hours + "h";
    }
    if (hours) {
      return sign + hours + "h " + pad(minutes) + "m";
    }
    return sign + minutes + "m " + pad(secs) + "s";
  }

  // "response on track" → "response breached", in the title and the hidden label after the figure
  function overdue(el) {
    el.setAttribute("data-overdue", "");
    el.classList.remove("sla-ok", "sla-amber");
    el.classList.add("sla-red");
    var clock = (el.getAttribute("title") || "").split(" ")[0];
    var label = (clock ? clock + " " : "") + "breached";
    el.setAttribute("title", label);
    var hidden = el.nextElementSibling;
    if (hidden && hidden.classList.contains("visually-hidden")) {
      hidden.textContent = "(" + label + ")";
    }
  }

  function tick() {
    var now = performance.now();
    document.querySelectorAll("[data-due][data-left]").forEach(function (el) {
      var start = seen.get(el);
      if (!start) {
        start = { left: Number(el.getAttribute("data-left")), at: now };
        if (isNaN(start.left)) {
          return;
        }
        seen.set(el, start);
      }
      var left = start.left - (now - start.at) / 1000;
      var text = el.querySelector(".left");
      if (text) {
        text.textContent = format(left);
      }
      if (left < 0 && !el.hasAttribute("data-overdue")) {
        overdue(el);
      }
    });
  }

  document.addEventListener("DOMContentLoaded", tick);
  document.addEventListener("htmx:afterSwap", tick);
  window.setInterval(tick, 1000);
})();
