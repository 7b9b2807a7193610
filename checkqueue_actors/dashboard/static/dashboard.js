// checkqueue dashboard: live counters. The page names its JSON endpoint in
// <body data-api>; every ~1.5 s the reply's "live" map updates the elements
// marked data-live (text), data-live-show (shown when true) and data-live-points
// (a sparkline). A new or removed queue reloads the page.
(function () {
  "use strict";
  var api = document.body.dataset.api;
  if (!api) { return; }
  var status = document.getElementById("live-status");
  var every = 1500;

  function each(selector, fn) {
    Array.prototype.forEach.call(document.querySelectorAll(selector), fn);
  }

  function apply(live) {
    each("[data-live]", function (el) {
      var key = el.getAttribute("data-live");
      if (Object.prototype.hasOwnProperty.call(live, key)) {
        var text = String(live[key]);
        if (el.textContent !== text) { el.textContent = text; }
      }
    });
    each("[data-live-show]", function (el) {
      var key = el.getAttribute("data-live-show");
      if (Object.prototype.hasOwnProperty.call(live, key)) { el.hidden = !live[key]; }
    });
    each("[data-live-points]", function (el) {
      var key = el.getAttribute("data-live-points");
      if (Object.prototype.hasOwnProperty.call(live, key)) { el.setAttribute("points", live[key]); }
    });
    var marker = document.querySelector("[data-live-queues]");
    if (marker && Object.prototype.hasOwnProperty.call(live, "queues") &&
        marker.getAttribute("data-live-queues") !== live.queues) {
      window.location.reload();
    }
  }

  function tick() {
    fetch(api, { headers: { "Accept": "application/json" }, credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.json();
      })
      .then(function (data) {
        apply(data.live || {});
        if (status) { status.textContent = "live · updated " + new Date().toLocaleTimeString(); }
      })
      .catch(function (error) {
        if (status) { status.textContent = "live updates paused: " + error.message; }
      })
      .then(function () { window.setTimeout(tick, every); });
  }

  window.setTimeout(tick, every);
})();
