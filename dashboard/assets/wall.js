/* The wall's heartbeat (`pages/wall.py`): the clock, and how long ago this screen last heard
   from the dashboard, drawn by the browser itself every half second, so that a screen whose
   dashboard stopped answering says so ("NOT UPDATING", red) and a screen whose browser froze
   shows a stopped clock.

   "Heard from" is the older of the watchdog's last good refresh of the shell (`watchdog.js`)
   and the wall's own last good refresh of its tiles, so tiles that stopped updating while the
   shell still answers show too; "NOT UPDATING" is when that is older than the watchdog's
   threshold (VITALS_DASHBOARD_WATCHDOG_SECONDS), or the watchdog says so. Dash's own poll resumes when the dashboard answers again: the screen
   recovers by itself after a restart (with the same VITALS_DASHBOARD_SECRET_KEY; else the
   login form shows). */
(function () {
  "use strict";

  function twoDigits(n) { return String(n).padStart(2, "0"); }

  function clock(ms) {
    var d = new Date(ms);
    return [d.getHours(), d.getMinutes(), d.getSeconds()].map(twoDigits).join(":");
  }

  function setText(element, text) {
    if (element !== null && element.textContent !== text) { element.textContent = text; }
  }

  var loadedAt = Date.now();
  var lastWall = null;  // Date.now() of the last good refresh of the wall's tiles

  var originalFetch = window.fetch;
  window.fetch = function () {
    var args = arguments;
    var body = args[1] && args[1].body;
    var tiles = typeof body === "string" && body.indexOf('"wall-interval"') !== -1;
    return originalFetch.apply(this, args).then(function (response) {
      if (tiles && response.ok) { lastWall = Date.now(); }
      return response;
    });
  };

  function heard() {
    var watchdog = window.vitalsWatchdog.state();
    var now = Date.now();
    var wallStale = now - (lastWall === null ? loadedAt : lastWall) > watchdog.afterMs;
    var last = watchdog.lastGood === null || lastWall === null ? null
      : Math.min(watchdog.lastGood, lastWall);
    return { lastGood: last, stale: watchdog.stale || wallStale };
  }

  function beat() {
    var heartbeat = document.getElementById("wall-heartbeat");
    if (heartbeat === null || !window.vitalsWatchdog) { return; }
    var state = heard();
    var now = Date.now();
    setText(document.getElementById("wall-clock"), clock(now));
    var age = document.getElementById("wall-age");
    if (state.lastGood === null) {
      setText(age, state.stale ? "NOT UPDATING — no update since this page opened"
                               : "waiting for the first update");
    } else {
      var seconds = Math.floor((now - state.lastGood) / 1000);
      setText(age, state.stale
        ? "NOT UPDATING — last update " + clock(state.lastGood) + ", " + seconds + " s ago"
        : "updated " + seconds + " s ago");
      if (age !== null) { age.setAttribute("data-age-s", String(seconds)); }
    }
    heartbeat.classList.toggle("wall-heartbeat--stale", state.stale);
  }
  setInterval(beat, 500);
})();
