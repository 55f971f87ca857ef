// ronda's live pages: listen to /live (server-sent events) and redraw, in place, the parts
// of a page that an event may have changed. Nothing reloads, so nothing a person types,
// selects or scrolls to is lost.
//
// An element with an id and data-live="URL" is a live part: the URL answers its new inner
// HTML. data-live-on says which events redraw it: a monitor's name (its verdicts and
// notices), "notice" (any incident or report notice) or "any" (every event). data-live-every
// is the fewest milliseconds between two redraws of it (default 2000): at 1,000 monitors
// verdicts come in dozens a second.
//
// A part that holds the focused field, or a field whose value a person changed, waits: it is
// redrawn once the person leaves it (and never while they type an update).
(function () {
  "use strict";
  var parts = Array.prototype.slice.call(document.querySelectorAll("[data-live]"));
  if (!parts.length || !window.EventSource) { return; }
  var state = new Map();  // part -> {timer, drawn, stale}

  function edited(part) {
    if (part.contains(document.activeElement) && document.activeElement !== document.body &&
        document.activeElement.matches("input, textarea, select")) { return true; }
    return Array.prototype.some.call(part.querySelectorAll("input, textarea, select"), function (field) {
      if (field.type === "hidden" || field.type === "submit") { return false; }
      if (field.tagName === "SELECT") {  // with no option marked, the first is the default
        var marked = Array.prototype.findIndex.call(field.options, function (o) { return o.defaultSelected; });
        return field.selectedIndex !== Math.max(marked, 0);
      }
      if (field.type === "checkbox" || field.type === "radio") { return field.checked !== field.defaultChecked; }
      return field.value !== field.defaultValue;
    });
  }

  function openDetails(part) {
    // <details> a person opened stay open after a redraw (matched by id).
    return Array.prototype.filter.call(part.querySelectorAll("details[id]"), function (d) {
      return d.open;
    }).map(function (d) { return d.id; });
  }

  function redraw(part) {
    var s = state.get(part);
    s.timer = null;
    if (edited(part)) { s.stale = true; return; }
    s.stale = false;
    s.drawn = Date.now();
    fetch(part.dataset.live, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      // Not a redirect to the login (a session that ended): that page is not this part.
      .then(function (response) { return response.ok && !response.redirected ? response.text() : null; })
      .then(function (html) {
        if (html === null) { return; }
        if (edited(part)) { s.stale = true; return; }  // they started typing while it came
        var opened = openDetails(part);
        part.innerHTML = html;
        opened.forEach(function (id) {
          var d = document.getElementById(id);
          if (d) { d.open = true; }
        });
        part.dispatchEvent(new CustomEvent("ronda:redrawn", { bubbles: true }));
      })
      .catch(function () { s.stale = true; });
  }

  function schedule(part) {
    var s = state.get(part);
    if (s.timer) { return; }
    var every = parseInt(part.dataset.liveEvery || "2000", 10);
    s.timer = setTimeout(function () { redraw(part); }, Math.max(200, s.drawn + every - Date.now()));
  }

  function concerns(part, change) {
    var on = part.dataset.liveOn || "any";
    if (on === "any") { return true; }
    if (on === "notice") { return change.kind === "notice"; }
    return change.monitor === on;
  }

  parts.forEach(function (part) {
    state.set(part, { timer: null, drawn: 0, stale: false });
    // Once the person leaves a part that waited, it catches up.
    part.addEventListener("focusout", function () {
      setTimeout(function () { if (state.get(part).stale) { schedule(part); } }, 100);
    });
    part.addEventListener("submit", function () { state.get(part).stale = false; });
  });

  var source = new EventSource("/live");
  source.addEventListener("change", function (event) {
    var change = JSON.parse(event.data);
    parts.forEach(function (part) { if (concerns(part, change)) { schedule(part); } });
  });
  // After a lost connection (a restart of ronda) the page may have missed events.
  source.addEventListener("open", function () {
    if (source.everOpened) { parts.forEach(schedule); }
    source.everOpened = true;
  });
})();
