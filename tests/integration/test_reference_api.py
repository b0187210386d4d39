"""Reference data through the API, as loaded from the shipped data files."""


def test_guangdong_has_21_prefecture_level_cities(client):
    response = client.get("/api/v1/divisions?level=prefecture&province=440000")
    assert response.status_code == 200
    cities = response.json
    cities = cities["items"] if isinstance(cities, dict) else cities
    assert len(cities) == 21
    shenzhen = next(c for c in cities if c["code"] == "440300")
    assert shenzhen["name"] == "深圳市"
    assert 22 < shenzhen["lat"] < 23 and 113 < shenzhen["lon"] < 115


def test_31_provinces_and_municipalities_count_as_prefecture_regions(client):
    provinces = client.get("/api/v1/divisions?level=province").json
    provinces = provinces["items"] if isinstance(provinces, dict) else provinces
    assert len(provinces) == 31
    beijing = client.get("/api/v1/divisions?level=prefecture&province=110000").json
    beijing = beijing["items"] if isinstance(beijing, dict) else beijing
    assert [c["code"] for c in beijing] == ["110100"]


def test_free_text_addresses_resolve(client):
    response = client.get("/api/v1/divisions/resolve", query_string={"address": "深圳"})
    assert response.status_code == 200
    assert "440300" in response.get_data(as_text=True)
    full = client.get("/api/v1/divisions/resolve",
                      query_string={"address": "广东省深圳市南山区科技园"}).get_data(as_text=True)
    assert "440305" in full


def test_rule_sets_and_checklist_are_exposed_read_only(client):
    rule_sets = client.get("/api/v1/rule-sets").json
    rule_sets = rule_sets["items"] if isinstance(rule_sets, dict) else rule_sets
    assert len(rule_sets) == 2
    assert {r["effective_from"] for r in rule_sets} == {"2019-10-01", "2026-04-01"}
    checklist = client.get("/api/v1/checklist").json
    assert len(checklist["categories"]) == 3
    assert sum(len(c["items"]) for c in checklist["categories"]) == 24
    assert client.post("/api/v1/rule-sets", json={}).status_code == 405


def test_regions_group_every_province_once(client):
    regions = client.get("/api/v1/regions").json
    regions = regions["items"] if isinstance(regions, dict) else regions
    codes = [p for r in regions for p in r["province_codes"]]
    assert len(codes) == len(set(codes)) == 31
