/* Keyboard shortcuts of the shell (`components.SHORTCUTS_HINT` says them on screen):
   A acknowledges the most urgent unacknowledged alarm (the alarms panel's first Acknowledge
   button, which carries aria-keyshortcuts="a"), with an empty note; P pauses the audio, or
   resumes it while it is paused. They click the buttons, so the same callbacks, role checks and
   feedback apply. Not while typing (a note, a search) or with Ctrl, Alt or Meta held. */
(function () {
  "use strict";

  function typing(target) {
    var tag = target && target.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT"
      || (target && target.isContentEditable);
  }

  function shown(element) {
    return element !== null && element.offsetParent !== null;
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.altKey || event.metaKey || event.repeat || typing(event.target)) {
      return;
    }
    var key = event.key.toLowerCase();
    var button = null;
    if (key === "a") {
      button = document.querySelector('#alarms-panel [aria-keyshortcuts="a"]');
    } else if (key === "p") {
      var resume = document.getElementById("sound-resume");
      button = shown(resume) ? resume : document.getElementById("sound-pause");
    }
    if (shown(button)) {
      event.preventDefault();
      button.click();
    }
  });
})();
