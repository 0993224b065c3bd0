/* Night mode, for sessions in a darkened room: everything but the alarms is dimmed
   (`dashboard.css`, "Night mode"); an alarm's tile, its row in the panel, the pipeline banner
   and the watchdog's notice keep their full colours. The toggle is the shell's button; the
   choice is kept in the browser (a `dcc.Store` in localStorage, `night-mode`), so a screen
   stays in night mode across reloads. */
(function () {
  "use strict";

  function apply(on) { document.documentElement.classList.toggle("night", on === true); }

  // At once, before Dash renders, so a reload in a dark room does not flash the day look.
  // Dash keeps a local store's data as JSON under its id.
  try { apply(JSON.parse(window.localStorage.getItem("night-mode")) === true); } catch (e) {}

  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    night: {
      toggle: function (_clicks, on) { return on !== true; },
      show: function (on) {
        apply(on);
        return on === true ? "☀ Day mode" : "☾ Night mode";
      }
    }
  });
})();
