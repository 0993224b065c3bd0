/* Client-side watchdog: the browser itself says when the screen stopped updating.

   The red banner and the "Not updating" tile come from the server; a server whose callbacks stop
   answering (hung, killed, unreachable) can show neither, and the last screen would stay up,
   looking live. So the page watches its own poll: every successful answer to the shell's
   refresh (`shell-interval`, on every page) is a good refresh; when the last one is older than
   the threshold (`data-after-ms` of `#watchdog`, from VITALS_DASHBOARD_WATCHDOG_SECONDS), a
   full-width red notice covers the top of the page and the high alarm tone sounds
   (`alarm-sound.js`), until refreshes resume.

   The notice is plain DOM outside Dash's tree: it must show when Dash's renderer is the thing
   that is stuck. `window.vitalsWatchdog.state()` is for tests. */
(function () {
  "use strict";

  var DEFAULT_AFTER_MS = 10000;
  var NOTICE_ID = "watchdog-notice";
  var loadedAt = Date.now();
  var lastGood = null;  // Date.now() of the last good refresh; null: none yet since loading

  function isShellRefresh(args) {
    var url = typeof args[0] === "string" ? args[0] : (args[0] && args[0].url) || "";
    var body = args[1] && args[1].body;
    return url.indexOf("/_dash-update-component") !== -1 && typeof body === "string"
      && body.indexOf('"shell-interval"') !== -1;
  }

  var originalFetch = window.fetch;
  window.fetch = function () {
    var shell = isShellRefresh(arguments);
    return originalFetch.apply(this, arguments).then(function (response) {
      if (shell && response.ok) {
        lastGood = Date.now();
        check();
      }
      return response;
    });
  };

  function afterMs() {
    var marker = document.getElementById("watchdog");
    var value = marker && Number(marker.getAttribute("data-after-ms"));
    return value > 0 ? value : DEFAULT_AFTER_MS;
  }

  function clock(ms) {
    var d = new Date(ms);
    return [d.getHours(), d.getMinutes(), d.getSeconds()].map(function (n) {
      return String(n).padStart(2, "0");
    }).join(":");
  }

  function show(since) {
    var notice = document.getElementById(NOTICE_ID);
    if (notice === null) {
      notice = document.createElement("div");
      notice.id = NOTICE_ID;
      notice.className = "watchdog-notice";
      notice.setAttribute("role", "alert");
      document.body.insertBefore(notice, document.body.firstChild);
    }
    var text = "NOT UPDATING — alarms on this screen may be out of date since " + clock(since)
      + ". Check this screen's connection to the dashboard; watch the patients directly.";
    if (notice.textContent !== text) { notice.textContent = text; }
  }

  function hide() {
    var notice = document.getElementById(NOTICE_ID);
    if (notice !== null) { notice.remove(); }
  }

  var stale = false;

  function check() {
    if (document.body === null) { return; }
    var since = lastGood === null ? loadedAt : lastGood;
    stale = Date.now() - since > afterMs();
    if (stale) { show(since); } else { hide(); }
    if (window.vitalsSound) { window.vitalsSound.watchdog(stale); }
  }
  setInterval(check, 500);

  window.vitalsWatchdog = {
    state: function () {
      return { stale: stale, lastGood: lastGood, afterMs: afterMs() };
    }
  };
})();
