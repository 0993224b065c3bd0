/* The wall's heartbeat (`pages/wall.py`): the clock, and how long ago this screen last heard
   from the dashboard, drawn by the browser itself every half second, so that a screen whose
   dashboard stopped answering says so ("NOT UPDATING", red) and a screen whose browser froze
   shows a stopped clock.

   "Heard from" is the watchdog's last good refresh (`watchdog.js`); "NOT UPDATING" is its
   verdict (its threshold, VITALS_DASHBOARD_WATCHDOG_SECONDS), so the wall and the watchdog's
   notice never disagree. Dash's own poll resumes when the dashboard answers again: the screen
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

  function beat() {
    var heartbeat = document.getElementById("wall-heartbeat");
    if (heartbeat === null || !window.vitalsWatchdog) { return; }
    var state = window.vitalsWatchdog.state();
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
