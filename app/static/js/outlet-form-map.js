// The outlet form's map: drag the marker (or click) to set latitude and longitude.
// Works without a tile server: the marker sits on a plain background.
(function () {
  var node = document.getElementById("location-map");
  if (!node || typeof L === "undefined") { return; }
  var latInput = document.getElementById(node.dataset.latInput);
  var lonInput = document.getElementById(node.dataset.lonInput);
  var lat = parseFloat(latInput.value), lon = parseFloat(lonInput.value);
  var known = !isNaN(lat) && !isNaN(lon);
  var start = known ? [lat, lon] : [35.0, 105.0];
  var map = L.map(node).setView(start, known ? 13 : 4);
  if (node.dataset.tiles) {
    L.tileLayer(node.dataset.tiles, { maxZoom: 18 }).addTo(map);
  }
  var marker = L.marker(start, { draggable: true }).addTo(map);
  function write(latlng) {
    latInput.value = latlng.lat.toFixed(6);
    lonInput.value = latlng.lng.toFixed(6);
  }
  marker.on("dragend", function () { write(marker.getLatLng()); });
  map.on("click", function (event) { marker.setLatLng(event.latlng); write(event.latlng); });
  function read() {
    var a = parseFloat(latInput.value), b = parseFloat(lonInput.value);
    if (!isNaN(a) && !isNaN(b)) { marker.setLatLng([a, b]); map.panTo([a, b]); }
  }
  latInput.addEventListener("change", read);
  lonInput.addEventListener("change", read);
})();
