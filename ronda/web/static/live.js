// ronda's live pages: listen to /live (server-sent events) and redraw what changed.
// data-refresh + data-target: fetch that fragment and swap it in place (the board);
// data-reload-on: reload the page when an event names that monitor ("*": any notice).
(function () {
  "use strict";
  var script = document.currentScript;
  var refresh = script.dataset.refresh, target = script.dataset.target, reloadOn = script.dataset.reloadOn;
  var pending = null;

  function redraw() {
    pending = null;
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
      if (!pending) { pending = setTimeout(redraw, 250); }  // a burst of verdicts: one redraw
    } else if (reloadOn === "*" ? change.kind === "notice" : change.monitor === reloadOn) {
      if (!pending) { pending = setTimeout(function () { window.location.reload(); }, 250); }
    }
  }

  var source = new EventSource("/live");
  source.addEventListener("change", onChange);
})();
