/* Audible alarm, generated with WebAudio (no audio files).

   The server sends the level to sound (`sound-level` store: "high", "medium" or null: the
   highest unacknowledged high/medium alarm). Patterns follow the IEC 60601-1-8 idea:
   high = a fast burst of 5 pulses at 880 Hz every 2.5 s, medium = 3 slower pulses at 660 Hz
   every 8 s. A pause (timed, 2 min, or until "Resume audio") silences it; a browser that
   blocks audio until the user interacts shows a warning, and any click on the page re-enables
   sound. Each burst also vibrates the device where the browser allows it (phones; after a
   first tap), in the burst's rhythm: paired with the tone, never instead of it.

   `window.vitalsSound.state()` is for tests and for anyone debugging a silent screen. */
(function () {
  "use strict";

  var PATTERNS = {
    high: { freq: 880, pulses: 5, on: 0.12, gap: 0.08, every: 2500 },
    medium: { freq: 660, pulses: 3, on: 0.2, gap: 0.15, every: 8000 }
  };
  var PAUSE_MS = 2 * 60 * 1000;

  var audio = null;
  var level = null;
  var pausedUntil = 0;
  var lastBurst = 0;
  var bursts = 0;
  var vibrations = 0;

  function context() {
    if (audio === null) {
      var Ctx = window.AudioContext || window.webkitAudioContext;
      if (!Ctx) { return null; }
      audio = new Ctx();
    }
    return audio;
  }

  function blocked() {
    var ctx = context();
    return ctx !== null && ctx.state !== "running";
  }

  function burst(pattern) {
    var ctx = context();
    if (ctx === null || ctx.state !== "running") { return; }
    var t = ctx.currentTime + 0.02;
    for (var i = 0; i < pattern.pulses; i++) {
      var osc = ctx.createOscillator();
      var gain = ctx.createGain();
      osc.type = "square";
      osc.frequency.value = pattern.freq;
      gain.gain.setValueAtTime(0, t);
      gain.gain.linearRampToValueAtTime(0.18, t + 0.01);
      gain.gain.setValueAtTime(0.18, t + pattern.on - 0.01);
      gain.gain.linearRampToValueAtTime(0, t + pattern.on);
      osc.connect(gain).connect(ctx.destination);
      osc.start(t);
      osc.stop(t + pattern.on + 0.02);
      t += pattern.on + pattern.gap;
    }
    bursts += 1;
  }

  function vibrate(pattern) {
    if (typeof navigator.vibrate !== "function") { return; }
    // Browsers refuse (and log) a vibration before the first tap on the page.
    if (navigator.userActivation && !navigator.userActivation.hasBeenActive) { return; }
    var rhythm = [];
    for (var i = 0; i < pattern.pulses; i++) {
      rhythm.push(Math.round(pattern.on * 1000), Math.round(pattern.gap * 1000));
    }
    if (navigator.vibrate(rhythm)) { vibrations += 1; }  // false: not allowed (yet)
  }

  var watchdogLevel = null;  // "high" while the page is not updating (`watchdog.js`)

  function tick() {
    var pattern = PATTERNS[watchdogLevel || level];
    if (!pattern || Date.now() < pausedUntil) { return; }
    if (Date.now() - lastBurst >= pattern.every) {
      lastBurst = Date.now();
      burst(pattern);
      vibrate(pattern);
    }
  }
  setInterval(tick, 200);

  function enable() {
    var ctx = context();
    if (ctx !== null && ctx.state === "suspended") {
      ctx.resume();
    }
  }
  // Browsers allow sound after a user gesture: any click on the page counts.
  document.addEventListener("click", enable, true);
  document.addEventListener("keydown", enable, true);

  // A login that expired answers 401 to Dash's requests: go to the login form instead of
  // leaving a screen that silently stopped updating.
  var originalFetch = window.fetch;
  window.fetch = function () {
    return originalFetch.apply(this, arguments).then(function (response) {
      if (response.status === 401 && response.url.indexOf("/_dash-") !== -1) {
        window.location.assign("/login?next=" + encodeURIComponent(window.location.pathname));
      }
      return response;
    });
  };

  window.vitalsSound = {
    // The screen cannot know the alarms any more: sound as for a high alarm (a pause still
    // silences it; the red notice stays).
    watchdog: function (stale) {
      var next = stale ? "high" : null;
      if (next !== watchdogLevel) { lastBurst = 0; }
      watchdogLevel = next;
    },
    state: function () {
      var ctx = context();
      return {
        level: watchdogLevel || level,
        paused: Date.now() < pausedUntil,
        context: ctx === null ? "unsupported" : ctx.state,
        bursts: bursts,
        vibrations: vibrations
      };
    }
  };

  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    vitals: {
      sound: function (newLevel, until, _n, _clicks) {
        var changed = newLevel !== level;
        level = newLevel || null;
        pausedUntil = until || 0;
        if (changed) { lastBurst = 0; }  // a new, worse alarm sounds at once
        var warning = { display: blocked() ? "inline-block" : "none" };
        var left = pausedUntil - Date.now();
        var status = "";
        if (left > 0) {
          var s = Math.ceil(left / 1000);
          status = "Audio paused — " + Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0")
            + " left";
        } else if (level) {
          status = "♪ Alarm tone on (" + level + ")";
        }
        return [warning, status, { display: left > 0 ? "inline-block" : "none" }];
      },
      // "Pause audio 2 min" or "Resume audio", whichever was clicked.
      pause: function (_pauseClicks, _resumeClicks) {
        enable();
        var clicked = window.dash_clientside.callback_context.triggered.map(function (t) {
          return t.prop_id;
        });
        return clicked.indexOf("sound-resume.n_clicks") !== -1 ? 0 : Date.now() + PAUSE_MS;
      }
    }
  });
})();
