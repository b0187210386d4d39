"""Obligation rules, the parc estimate and the retired-battery tonnage, as pure functions."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from services import obligations
from services.divisions import DivisionIndex

RULE_SETS = Path(__file__).resolve().parents[2] / "services" / "data" / "rule_sets"


def load_rule_sets() -> list[dict]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(RULE_SETS.glob("*.json"))]


def in_force(on: date) -> dict:
    """The shipped rule set governing `on` (as services.rule_sets.in_force picks it)."""
    matching = [r for r in load_rule_sets()
                if date.fromisoformat(r["effective_from"]) <= on
                and (r["effective_to"] is None or on <= date.fromisoformat(r["effective_to"]))]
    assert len(matching) == 1, on
    return matching[0]


def figures(parc: int, sales: int = 100) -> dict:
    return {"sales": sales, "cumulative_sales": sales, "parc": parc}


@pytest.mark.parametrize("code", ["guidelines-2019", "measures-2026"])
@pytest.mark.parametrize(("parc", "storage"), [(7999, False), (8000, True), (8001, True)])
def test_storage_threshold_under_both_rule_sets(code, parc, storage):
    rule_set = next(r for r in load_rule_sets() if r["code"] == code)
    found = obligations.evaluate(rule_set["parameters"], figures(parc))
    types = [o.outlet_type for o in found]
    assert types == (["collection", "centralized_storage"] if storage else ["collection"])
    if storage:
        cited = found[1]
        assert cited.basis == "parc" and cited.value == parc and cited.threshold == 8000
        assert cited.rule_ref == rule_set["parameters"]["obligations"]["centralized_storage"]["rule_ref"]
        assert cited.source


@pytest.mark.parametrize(("as_of", "prefix"), [(date(2026, 3, 31), "G2019"),
                                               (date(2026, 4, 1), "M2026")])
@pytest.mark.parametrize(("parc", "storage"), [(7999, False), (8000, True), (8001, True)])
def test_across_the_1_april_2026_boundary(as_of, prefix, parc, storage):
    rule_set = in_force(as_of)
    found = obligations.evaluate(rule_set["parameters"], figures(parc))
    assert all(o.rule_ref.startswith(prefix) for o in found)
    assert ("centralized_storage" in [o.outlet_type for o in found]) is storage


def test_threshold_comparison_and_basis_are_parameters():
    params = in_force(date(2026, 4, 1))["parameters"]
    strict = json.loads(json.dumps(params))
    strict["obligations"]["centralized_storage"].update(comparison=">", basis="cumulative_sales")
    at = {"sales": 10, "cumulative_sales": 8000, "parc": 20000}
    assert [o.outlet_type for o in obligations.evaluate(strict, at)] == ["collection"]
    at["cumulative_sales"] = 8001
    storage = obligations.evaluate(strict, at)[1]
    assert (storage.basis, storage.comparison, storage.value) == ("cumulative_sales", ">", 8001)
    lower = json.loads(json.dumps(params))
    lower["obligations"]["centralized_storage"]["threshold"] = 500
    assert len(obligations.evaluate(lower, figures(500))) == 2


def test_no_sales_no_collection_and_battery_maker_rule_ignored():
    params = in_force(date(2026, 4, 1))["parameters"]
    assert "battery_maker_centralized_storage_per_province" in params["obligations"]
    assert obligations.evaluate(params, {"sales": 0, "cumulative_sales": 0, "parc": 0}) == []


def test_unknown_comparison_is_an_error_not_a_silent_pass():
    params = {"obligations": {"x": {"outlet_type": "collection", "comparison": "~", "threshold": 1}}}
    with pytest.raises(ValueError, match="comparison"):
        obligations.evaluate(params, figures(1))


def test_status():
    assert obligations.status_for(["collection"], {"collection"}) == "covered"
    assert obligations.status_for(["collection", "centralized_storage"],
                                  {"collection"}) == "collection_only"
    assert obligations.status_for(["collection", "centralized_storage"], set()) == "uncovered"
    assert obligations.status_for(["collection", "centralized_storage"],
                                  {"collection", "centralized_storage"}) == "covered"


MODEL = {"annual_scrappage_share_by_age": {"1": 0.1, "2": 0.5}, "share_for_older_ages": 1.0}


def test_parc_estimate_is_cumulative_sales_less_scrappage():
    assert obligations.survival(0, MODEL) == 1.0
    assert obligations.survival(1, MODEL) == pytest.approx(0.9)
    assert obligations.survival(2, MODEL) == pytest.approx(0.45)
    assert obligations.survival(3, MODEL) == 0.0
    sales = {2023: 1000, 2024: 1000, 2025: 1000, 2026: 500}
    # end of 2025: 1000 (age 0) + 900 (age 1) + 450 (age 2); 2026 not yet sold
    assert obligations.estimate_parc(sales, 2025, MODEL) == 2350


def test_shipped_parc_model_keeps_young_fleets_nearly_whole():
    model = obligations.parc_model()
    assert model["convention"] is True and model["sources"]
    assert obligations.estimate_parc({2024: 4000, 2025: 4000}, 2025) in range(7960, 8000)
    assert obligations.survival(30) < 0.05


def test_expected_tonnes_from_cohorts_curve_and_pack_mass():
    model = {"retirement_share_by_age": {"0": 0.0, "1": 0.1, "2": 0.2},
             "average_pack_mass_t": 0.5}
    # 2025: cohort 2024 at age 1 (0.1) + cohort 2023 at age 2 (0.2)
    assert obligations.expected_tonnes({2023: 1000, 2024: 2000, 2025: 3000}, 2025, model) == \
        pytest.approx(1000 * 0.2 * 0.5 + 2000 * 0.1 * 0.5)
    shipped = obligations.retirement_model()
    assert shipped["convention"] is True and shipped["sources"]
    assert sum(shipped["retirement_share_by_age"].values()) <= 1.0


DIVISIONS = [
    {"code": "440000", "name": "广东省", "short_name": "广东", "level": "province",
     "parent_code": None, "province_code": "440000", "prefecture_code": None, "lat": 23.1,
     "lon": 113.3},
    {"code": "440300", "name": "深圳市", "short_name": "深圳", "level": "prefecture",
     "parent_code": "440000", "province_code": "440000", "prefecture_code": "440300",
     "lat": 22.5, "lon": 114.1},
]


def test_build_city_uses_the_latest_year_up_to_as_of_and_given_parc_first():
    index = DivisionIndex(DIVISIONS)
    params = in_force(date(2026, 4, 1))["parameters"]
    rows = [(2024, 3000, None), (2025, 5000, 8000), (2027, 9999, None)]
    city = obligations.build_city(index.get("440300"), "440300", rows, 2026, params)
    assert (city.year, city.sales, city.parc, city.parc_estimated) == (2025, 5000, 8000, False)
    assert city.required == ["collection", "centralized_storage"]
    estimated = obligations.build_city(index.get("440300"), "440300", [(2025, 5000, None)], 2026,
                                       params)
    assert estimated.parc_estimated and estimated.parc < 8000
    assert estimated.required == ["collection"]
    assert obligations.build_city(None, "440300", [(2027, 10, None)], 2026, params) is None


def test_a_city_names_the_outlet_types_it_still_lacks():
    def city(met_types):
        rules = [obligations.Obligation(t, "r", "s", "sales", ">=", 1, 5)
                 for t in ("collection", "centralized_storage")]
        return obligations.CityObligations(
            "440300", "深圳市", "440000", None, None, 2025, 5, 5, 5, False, 1.0, rules,
            met_by=[{"type": t} for t in met_types])

    assert city([]).missing == ["collection", "centralized_storage"]
    assert city(["collection"]).missing == ["centralized_storage"]  # the pool link asks for storage
    assert city(["collection", "centralized_storage"]).missing == []
