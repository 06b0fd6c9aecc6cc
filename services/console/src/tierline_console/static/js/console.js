// htmx requests carry the session's CSRF token (read from the page's <meta name="csrf-token">).
document.addEventListener("htmx:configRequest", function (event) {
  var meta = document.querySelector('meta[name="csrf-token"]');
  if (meta) {
    event.detail.headers["X-CSRF-Token"] = meta.getAttribute("content");
  }
});

window.tierline = window.tierline || {};

// Live reloads, throttled and settled. The feed passes on the router's, SLA monitor's and vendor
// gateway's events as Kafka delivers them, often before intake (which every page reads) has applied
// them; intake announces nothing when it has. So `tierline.settled(reload)` gives a function to call
// on each live event: it reloads at once, and again 1 s and 3 s after the latest event; and never
// more than once a second (a call within the second is run at its end, once).
window.tierline.settled = function (reload) {
  "use strict";
  var GAP_MS = 1000;
  var SETTLE_MS = [1000, 3000];
  var last = -Infinity;
  var trailing = null;
  var followUps = [];

  function throttled() {
    var wait = last + GAP_MS - performance.now();
    if (wait <= 0) {
      last = performance.now();
      reload();
    } else if (trailing === null) {
      trailing = setTimeout(function () {
        trailing = null;
        last = performance.now();
        reload();
      }, wait);
    }
  }

  function onEvent() {
    throttled();
    followUps.forEach(clearTimeout);
    followUps = SETTLE_MS.map(function (ms) {
      return setTimeout(throttled, ms);
    });
  }
  onEvent.once = throttled; // one reload, no follow-ups (after a reconnect)
  return onEvent;
};

// Boards and my work: each `[data-live-refresh]` element gets a "live-refresh" on a live event or resync.
(function () {
  "use strict";
  var refresh = window.tierline.settled(function () {
    document.querySelectorAll("[data-live-refresh]").forEach(function (el) {
      htmx.trigger(el, "live-refresh");
    });
  });
  window.tierline.refreshBoards = refresh;

  document.addEventListener("htmx:sseMessage", function (event) {
    var type = event.detail && event.detail.type;
    if (type === "incident" || type === "resync") {
      refresh();
    }
  });
})();

// Failures show: a refused or failed htmx request, or a live stream that cannot (re)open, puts a
// message and a reload link in the page's #live-alert (role="alert"). When the stream opens again
// after an error, the alert goes and the page reloads its fragments once (it missed what happened).
(function () {
  "use strict";
  var STOPPED = "Live updates stopped — reload the page or sign in again.";
  var streamFailed = false;

  function alertBox() {
    return document.getElementById("live-alert");
  }

  function show(message) {
    var box = alertBox();
    if (!box) {
      return;
    }
    var text = document.createElement("p");
    text.textContent = message;
    var link = document.createElement("a");
    link.href = window.location.href;
    link.textContent = "Reload the page";
    box.replaceChildren(text, link);
  }

  function clear() {
    var box = alertBox();
    if (box) {
      box.replaceChildren();
    }
  }

  // The refusal's own words: a problem's detail, or the error page's heading and message.
  function refusal(xhr) {
    var type = xhr.getResponseHeader("Content-Type") || "";
    var body = xhr.responseText || "";
    var words = "";
    try {
      if (type.indexOf("json") !== -1) {
        var problem = JSON.parse(body);
        words = problem.detail || problem.title || "";
      } else if (type.indexOf("html") !== -1) {
        var page = new DOMParser().parseFromString(body, "text/html");
        var main = page.querySelector("main") || page.body;
        words = main ? main.textContent.replace(/\s+/g, " ").trim() : "";
      }
    } catch (e) {
      words = "";
    }
    var status = "The console answered " + xhr.status + (xhr.statusText ? " " + xhr.statusText : "");
    return (words ? status + ": " + words.slice(0, 300) : status) + ".";
  }

  document.addEventListener("htmx:responseError", function (event) {
    show(refusal(event.detail.xhr));
  });

  document.addEventListener("htmx:sendError", function () {
    show("The console could not be reached. " + STOPPED);
  });

  document.addEventListener("htmx:sseError", function (event) {
    streamFailed = true;
    var source = event.detail && event.detail.source;
    // CONNECTING: the browser reconnects by itself (a stream that ended); CLOSED: refused, or gone
    if (source && source.readyState === EventSource.CLOSED) {
      show(STOPPED);
    }
  });

  document.addEventListener("htmx:sseOpen", function () {
    if (!streamFailed) {
      return;
    }
    streamFailed = false;
    clear();
    window.tierline.refreshBoards.once();
    document.dispatchEvent(new CustomEvent("tierline:reconnected"));
  });
})();

// One visually hidden role="status" line per live page (#live-status) says what a live reload
// changed, e.g. "Board updated: 5 open incidents": after the swap of an element with a
// data-live-label, when its content (countdowns and relative times aside) differs from before.
(function () {
  "use strict";
  var before = new WeakMap();

  function content(el) {
    var copy = el.cloneNode(true);
    copy.querySelectorAll(".sla, time, [data-live-summary]").forEach(function (n) {
      n.remove();
    });
    return copy.textContent.replace(/\s+/g, " ").trim();
  }

  function remember() {
    document.querySelectorAll("[data-live-label]").forEach(function (el) {
      before.set(el, content(el));
    });
  }

  document.addEventListener("DOMContentLoaded", remember);

  document.addEventListener("htmx:afterSwap", function (event) {
    var el = event.detail.target;
    var status = document.getElementById("live-status");
    if (!el || !status || !el.hasAttribute("data-live-label")) {
      return;
    }
    var now = content(el);
    if (now === before.get(el)) {
      return;
    }
    before.set(el, now);
    var summary = el.querySelector("[data-live-summary]");
    status.textContent = (summary && summary.textContent.trim()) || el.getAttribute("data-live-label");
  });
})();
