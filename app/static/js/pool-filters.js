// The pool search form: dependent province -> city -> district selects (from the public
// divisions API), "use my location" / "use the map centre" for the near field, and URLs
// without empty parameters. The form works without it; this only makes it pleasant.
(function () {
  "use strict";
  var form = document.getElementById("pool-filters");
  if (!form) { return; }
  var province = document.getElementById("f-province");
  var city = document.getElementById("f-city");
  var district = document.getElementById("f-district");
  var near = document.getElementById("f-near");
  var divisionsUrl = form.dataset.divisionsUrl;

  function reset(select) {
    while (select.options.length > 1) { select.remove(1); }
    select.value = "";
  }

  function fill(select, query) {
    reset(select);
    if (!query) { return; }
    select.disabled = true;
    fetch(divisionsUrl + "?" + new URLSearchParams(query).toString(),
          { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : []; })
      .then(function (rows) {
        rows.forEach(function (row) { select.add(new Option(row.name, row.code)); });
      })
      .catch(function () { /* the select keeps "all"; the search still works */ })
      .then(function () { select.disabled = false; });
  }

  province.addEventListener("change", function () {
    reset(district);
    fill(city, province.value ? { level: "prefecture", province: province.value } : null);
  });
  city.addEventListener("change", function () {
    fill(district, city.value ? { level: "district", parent: city.value } : null);
  });

  function setNear(lat, lon) {
    near.value = lat.toFixed(5) + "," + lon.toFixed(5);
    near.dispatchEvent(new Event("change"));
  }

  var locate = document.getElementById("f-locate");
  if (locate && navigator.geolocation) {
    locate.hidden = false;
    locate.addEventListener("click", function () {
      navigator.geolocation.getCurrentPosition(function (position) {
        setNear(position.coords.latitude, position.coords.longitude);
      });
    });
  }
  var centre = document.getElementById("f-map-centre");
  var mapNode = document.getElementById("pool-map");
  if (centre && mapNode && mapNode.poolMap) {
    centre.hidden = false;
    centre.addEventListener("click", function () {
      var at = mapNode.poolMap.getCenter();
      setNear(at.lat, at.lng);
    });
  }

  // Leave empty fields out of the URL, so links and the export carry only real filters.
  form.addEventListener("submit", function () {
    Array.prototype.forEach.call(form.elements, function (element) {
      if (element.name && !element.value) { element.disabled = true; }
    });
    window.setTimeout(function () {
      Array.prototype.forEach.call(form.elements, function (element) { element.disabled = false; });
    }, 0);
  });
})();
