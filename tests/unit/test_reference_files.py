"""The reference data files shipped in services/data: checklist, rule sets, regions."""

from __future__ import annotations

from collections import Counter
from itertools import pairwise

from services.divisions import read_csv
from services.reference_data import read_checklist, read_regions, read_rule_sets


def test_checklist_has_24_items_in_3_categories():
    checklist = read_checklist()
    assert len(checklist["version"]) <= 20
    categories = {c["code"]: c for c in checklist["categories"]}
    assert list(categories) == ["working_environment", "facilities", "systems_processes"]
    assert [c["survey_fail_share"] for c in categories.values()] == [0.79, 0.83, 0.58]
    items = checklist["items"]
    assert [i["number"] for i in items] == list(range(1, 25))
    per_category = Counter(i["category"] for i in items)
    assert per_category == {"working_environment": 10, "facilities": 10, "systems_processes": 4}
    for item in items:
        for field in ("title_zh", "title_en", "requirement_zh", "requirement_en"):
            assert item[field].strip(), (item["number"], field)
        assert set(item["applies_to"]) == {"collection", "centralized_storage"}
    assert "废旧动力蓄电池回收服务网点" in items[0]["title_zh"]


def test_rule_sets_parse_and_do_not_overlap():
    rule_sets = read_rule_sets()
    assert [r["code"] for r in rule_sets] == ["guidelines-2019", "measures-2026"]
    for earlier, later in pairwise(rule_sets):
        assert earlier["effective_to"] is not None
        assert earlier["effective_from"] <= earlier["effective_to"] < later["effective_from"]
    assert rule_sets[-1]["effective_to"] is None
    assert str(rule_sets[0]["effective_from"]) == "2019-10-01"
    assert str(rule_sets[1]["effective_from"]) == "2026-04-01"


def _rules(parameters: dict):
    """Every dict in the parameters that states a rule (carries a rule_ref)."""
    for value in parameters.values():
        if isinstance(value, dict):
            if "rule_ref" in value:
                yield value
            yield from _rules(value)


def test_every_rule_is_citable():
    refs = []
    for rule_set in read_rule_sets():
        assert rule_set["sources"]
        rules = list(_rules(rule_set["parameters"]))
        assert len(rules) >= 8
        for rule in rules:
            assert rule["source"].strip()
            refs.append(rule["rule_ref"])
    assert len(refs) == len(set(refs))


def test_guidelines_2019_parameters():
    params = read_rule_sets()[0]["parameters"]
    assert params["outlet_types"]["collection"]["min_storage_area_m2"] == 10
    assert params["outlet_types"]["collection"]["max_stored_weight_t"] == 5
    assert params["outlet_types"]["centralized_storage"]["min_stored_weight_t"] == 30
    storage = params["obligations"]["centralized_storage"]
    assert (storage["threshold"], storage["comparison"], storage["basis"]) == (8000, ">=", "parc")
    assert params["obligations"]["collection_per_prefecture_with_sales"]["value"] is True
    assert params["record_retention_years"]["value"] == 3
    assert params["traceability_report_working_days"]["value"] == 30
    assert params["rectification_months"]["value"] == 6


def test_measures_2026_keep_the_structure_and_add_battery_maker_storage():
    old, new = (r["parameters"] for r in read_rule_sets())
    assert set(old) <= set(new)
    provincial = new["obligations"]["battery_maker_centralized_storage_per_province"]
    assert provincial["scope"] == "province"
    assert provincial["obligated_party"] == "battery_maker"
    assert provincial["confirmed"] is False


def test_regions_cover_each_province_exactly_once():
    provinces = {r["code"] for r in read_csv() if r["level"] == "province"}
    assert len(provinces) == 31
    regions = read_regions()
    listed = Counter(code for region in regions for code in region["province_codes"])
    assert set(listed) == provinces
    assert set(listed.values()) == {1}
    assert [r["position"] for r in regions] == list(range(1, len(regions) + 1))
    assert {r["code"] for r in regions} == {
        "beijing_tianjin_hebei", "yangtze_river_delta", "pearl_river_delta", "central_china",
        "others"}
