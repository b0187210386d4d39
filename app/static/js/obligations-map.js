// The obligations page's map: one circle marker per city, coloured by its status.
// Everything comes from data- attributes (the CSP allows no inline script). Tiles are
// optional (data-tile-url); without them a plain grid is drawn so the markers stay readable.
(function () {
  "use strict";
  if (typeof L === "undefined") { return; }
  var node = document.getElementById("obligations-map");
  if (!node) { return; }

  var COLOURS = { covered: "#2e7d32", collection_only: "#e09b00", uncovered: "#c62828" };
  var map = L.map(node, { minZoom: 3, maxZoom: 18 });
  map.attributionControl.setPrefix('<a href="https://leafletjs.com" rel="noopener">Leaflet</a>');

  map.createPane("offline");
  var renderer = L.svg({ pane: "offline" });
  var lines = { color: "#b8c2cc", weight: 1, interactive: false, renderer: renderer };
  var lat, lon;
  for (lat = 0; lat <= 60; lat += 5) { L.polyline([[lat, 60], [lat, 150]], lines).addTo(map); }
  for (lon = 60; lon <= 150; lon += 5) { L.polyline([[0, lon], [60, lon]], lines).addTo(map); }

  if (node.dataset.tileUrl) {
    var options = { maxZoom: 18, attribution: node.dataset.tileAttribution || "" };
    if (node.dataset.tileSubdomains) { options.subdomains = node.dataset.tileSubdomains; }
    L.tileLayer(node.dataset.tileUrl, options).addTo(map);
  } else {
    map.attributionControl.addAttribution(node.dataset.labelNoTiles || "");
  }

  var labels = {};
  try { labels = JSON.parse(node.dataset.statusLabels || "{}"); } catch (e) { labels = {}; }
  var points = [];
  try { points = JSON.parse(node.dataset.points || "[]"); } catch (e) { points = []; }

  var markers = points.map(function (p) {
    // p = [division, name, lat, lon, status, required types]
    var colour = COLOURS[p[4]] || "#555";
    var marker = L.circleMarker([p[2], p[3]], { radius: 7, color: colour, fillColor: colour,
                                                fillOpacity: 0.7, weight: 1 });
    marker.bindPopup(function () {
      var box = document.createElement("div");
      var title = document.createElement("strong");
      title.textContent = p[1] + " (" + p[0] + ")";
      box.appendChild(title);
      box.appendChild(document.createElement("br"));
      box.appendChild(document.createTextNode((labels[p[4]] || p[4]) + (p[5] ? " · " + p[5] : "")));
      return box;
    });
    return marker.addTo(map);
  });
  if (markers.length) {
    map.fitBounds(L.featureGroup(markers).getBounds(), { padding: [20, 20], maxZoom: 9 });
  } else {
    map.fitBounds(L.latLngBounds([18, 73], [54, 135]));
  }
  node.dataset.loaded = String(markers.length);
})();
