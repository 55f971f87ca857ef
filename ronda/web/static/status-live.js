// The public status page, live without a login: every half minute (while the tab is seen)
// it asks for the page again, and redraws #status-live in place when it changed. The
// request is conditional (ronda keeps the page and answers 304 while nothing moved), so a
// crowd watching an outage costs ronda little. The report form sits outside the redrawn
// part: nothing a visitor types is touched.
(function () {
  "use strict";
  var live = document.getElementById("status-live");
  if (!live || !window.fetch || !window.DOMParser) { return; }
  var every = parseInt(live.dataset.poll || "30000", 10);
  var drawn = live.innerHTML;

  function refresh() {
    if (document.hidden) { return; }
    fetch(window.location.href, { credentials: "same-origin", cache: "no-cache", headers: { "Accept": "text/html" } })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (html === null) { return; }
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("status-live");
        if (!fresh || fresh.innerHTML === drawn) { return; }
        drawn = fresh.innerHTML;
        live.innerHTML = drawn;
        live.dispatchEvent(new CustomEvent("ronda:redrawn", { bubbles: true }));
      })
      .catch(function () { /* ronda unreachable: try again at the next turn */ });
  }

  setInterval(refresh, every);
  document.addEventListener("visibilitychange", function () { if (!document.hidden) { refresh(); } });
})();
