// Starts Swagger UI on /api/docs from ronda's own files. A script of its own, not inline,
// so the page keeps ronda's content policy (scripts from ronda only).
(function () {
  "use strict";
  var openapi = document.currentScript.dataset.openapi;
  window.ui = SwaggerUIBundle({
    url: openapi,
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    // Swagger UI would send the schema to validator.swagger.io for a badge: nothing leaves.
    validatorUrl: null
  });
})();
