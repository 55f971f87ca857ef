// Times in the reader's own zone: ronda writes every moment in UTC (<time data-moment
// datetime="...">), the same for every visitor so pages can be kept and shared; here each
// becomes one format in the browser's zone and the page's language, the UTC time in its tooltip.
(function () {
  "use strict";
  var lang = document.documentElement.lang || undefined;  // the page's language, as its words
  var format = new Intl.DateTimeFormat(lang, {
    year: "numeric", month: "short", day: "numeric",
    hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short"
  });
  var dayOnly = new Intl.DateTimeFormat(lang, { year: "numeric", month: "short", day: "numeric" });

  function localize(root) {
    root.querySelectorAll("time[data-moment]").forEach(function (node) {
      var at = new Date(node.getAttribute("datetime"));
      if (isNaN(at.getTime())) { return; }
      if (!node.title) { node.title = node.textContent.trim(); }
      node.textContent = (node.dataset.moment === "day" ? dayOnly : format).format(at);
    });
  }

  localize(document);
  // A note naming the zone times are written in now names the reader's.
  var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (zone) { document.querySelectorAll("[data-zone]").forEach(function (node) { node.textContent = zone; }); }
  document.addEventListener("ronda:redrawn", function (event) { localize(event.target); });
})();
