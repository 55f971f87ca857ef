// ronda's live pages: listen to /live (server-sent events) and redraw what changed.
// data-refresh + data-target: fetch that fragment and swap it in place (the board);
// data-reload-on: reload the page when an event names that monitor ("*": any notice).
(function () {
  "use strict";
  var script = document.currentScript;
  var refresh = script.dataset.refresh, target = script.dataset.target, reloadOn = script.dataset.reloadOn;
  var pending = null, drawn = 0;
  // The board is redrawn at most this often: at 1,000 monitors verdicts come in dozens a
  // second, and the server keeps one drawing of the board for every open tab this long.
  var EVERY_MS = 5000;

  function redraw() {
    pending = null;
    drawn = Date.now();
    fetch(refresh, { credentials: "same-origin" }).then(function (response) {
      if (!response.ok) { return null; }
      return response.text();
    }).then(function (html) {
      if (html === null) { return; }
      var old = document.getElementById(target);
      if (old) { old.outerHTML = html; }
    });
  }

  function onChange(event) {
    var change = JSON.parse(event.data);
    if (refresh) {
      // A burst of verdicts: one redraw, no sooner than EVERY_MS after the last one.
      if (!pending) { pending = setTimeout(redraw, Math.max(250, drawn + EVERY_MS - Date.now())); }
    } else if (reloadOn === "*" ? change.kind === "notice" : change.monitor === reloadOn) {
      if (!pending) { pending = setTimeout(function () { window.location.reload(); }, 250); }
    }
  }

  var source = new EventSource("/live");
  source.addEventListener("change", onChange);
})();
