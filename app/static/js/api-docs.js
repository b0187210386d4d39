// Starts Swagger UI from the vendored bundle; kept in a file because the CSP forbids inline script.
(function () {
  var node = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({ url: node.dataset.specUrl, dom_id: "#swagger-ui", deepLinking: true });
})();
