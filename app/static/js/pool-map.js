// Maps of the public pool: the search page's clustered results and one outlet's location.
// Everything comes from data- attributes (the CSP allows no inline script). Tiles are
// optional (MAP_TILE_URL): beneath them, in a pane of its own, the map always draws a plain
// grid with province names, so markers and clusters stay readable with no tile server.
(function () {
  "use strict";
  if (typeof L === "undefined") { return; }

  var CHINA = L.latLngBounds([18, 73], [54, 135]);

  function offlineBackground(map, node) {
    map.createPane("offline");  // below the tile pane (see pool.css)
    var renderer = L.svg({ pane: "offline" });
    var lines = { color: "#b8c2cc", weight: 1, interactive: false, renderer: renderer };
    for (var lat = 0; lat <= 60; lat += 5) {
      L.polyline([[lat, 60], [lat, 150]], lines).addTo(map);
    }
    for (var lon = 60; lon <= 150; lon += 5) {
      L.polyline([[0, lon], [60, lon]], lines).addTo(map);
    }
    var provinces = [];
    try { provinces = JSON.parse(node.dataset.provinces || "[]"); } catch (e) { provinces = []; }
    provinces.forEach(function (p) {
      var label = document.createElement("span");
      label.textContent = p[0];
      L.marker([p[1], p[2]], {
        pane: "offline", interactive: false, keyboard: false,
        icon: L.divIcon({ className: "province-label", html: label, iconSize: null }),
      }).addTo(map);
    });
  }

  function tiles(map, node) {
    var url = node.dataset.tileUrl;
    if (!url) {
      map.attributionControl.addAttribution(node.dataset.labelNoTiles || "");
      return;
    }
    var options = { maxZoom: 18, attribution: node.dataset.tileAttribution || "" };
    if (node.dataset.tileSubdomains) { options.subdomains = node.dataset.tileSubdomains; }
    L.tileLayer(url, options).addTo(map);
  }

  function makeMap(node, options) {
    var map = L.map(node, Object.assign({ minZoom: 3, maxZoom: 18 }, options || {}));
    map.attributionControl.setPrefix(
      '<a href="https://leafletjs.com" rel="noopener">Leaflet</a>');
    offlineBackground(map, node);
    tiles(map, node);
    node.poolMap = map;
    return map;
  }

  function popupFor(point, node) {
    var box = document.createElement("div");
    var title = document.createElement("strong");
    title.textContent = point[3];
    box.appendChild(title);
    box.appendChild(document.createElement("br"));
    var link = document.createElement("a");
    link.href = node.dataset.detailBase + point[0];
    link.textContent = node.dataset.labelDetails || "Details";
    box.appendChild(link);
    return box;
  }

  function pointsMap(node) {
    var map = makeMap(node);
    map.fitBounds(CHINA);
    var note = document.getElementById("pool-map-note");
    var near = null;
    if (node.dataset.near) {
      var parts = node.dataset.near.split(",").map(parseFloat);
      near = L.latLng(parts[0], parts[1]);
      var radius = parseFloat(node.dataset.radiusKm) * 1000;
      var circle = L.circle(near, { radius: radius, color: "#1e6fd9", weight: 1, fillOpacity: 0.05,
                                    interactive: false }).addTo(map);
      L.circleMarker(near, { radius: 5, color: "#1e6fd9", fillOpacity: 1, interactive: false }).addTo(map);
      map.fitBounds(circle.getBounds());
    }
    fetch(node.dataset.pointsUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.json();
      })
      .then(function (data) {
        var cluster = L.markerClusterGroup({ chunkedLoading: true, showCoverageOnHover: false,
                                             maxClusterRadius: 50 });
        var markers = data.points.map(function (point) {
          var marker = L.marker([point[1], point[2]], { title: point[3] });
          marker.bindPopup(function () { return popupFor(point, node); });
          return marker;
        });
        cluster.addLayers(markers);
        map.addLayer(cluster);
        node.dataset.loaded = String(markers.length);
        if (!near && markers.length) {
          map.fitBounds(cluster.getBounds(), { padding: [20, 20], maxZoom: 13 });
        }
        if (data.truncated && note) {
          note.textContent = (node.dataset.labelTruncated || "")
            .replace("{shown}", data.points.length.toLocaleString())
            .replace("{total}", data.total.toLocaleString());
        }
      })
      .catch(function (error) {
        if (window.console) { window.console.warn("pool map:", error); }
        if (note) { note.textContent = node.dataset.labelFailed || ""; }
        node.dataset.loaded = "error";
      });
  }

  function singleMap(node) {
    var at = L.latLng(parseFloat(node.dataset.lat), parseFloat(node.dataset.lon));
    var map = makeMap(node);
    map.setView(at, 13);
    L.marker(at, { title: node.dataset.name }).addTo(map);
    node.dataset.loaded = "1";
  }

  var modes = { points: pointsMap, single: singleMap };
  document.querySelectorAll("[data-mode].pool-map, [data-mode].outlet-map").forEach(function (node) {
    var draw = modes[node.dataset.mode];
    if (draw) { draw(node); }
  });
})();
