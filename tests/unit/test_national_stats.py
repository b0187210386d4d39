"""National statistics: the pure aggregations, and the demo pool's calibration to the survey
checked on the generator's plan (no database)."""

from collections import Counter

import pytest

from services import credit_code, demo_pool, national_stats, reference_data
from services.divisions import DivisionIndex


@pytest.fixture(scope="module")
def index():
    return DivisionIndex.from_csv()


@pytest.fixture(scope="module")
def items():
    return [{"number": i["number"], "category": i["category"]}
            for i in reference_data.read_checklist()["items"]]


@pytest.fixture(scope="module")
def full_plan(index, items):
    return demo_pool.plan(demo_pool.DEFAULT_SEED, demo_pool.FULL_SIZE, index, items)


def test_region_counts_follow_the_grouping_data():
    regions = [{"region": r["code"], "name_zh": r["name_zh"], "name_en": r["name_en"],
                "province_codes": r["province_codes"]} for r in reference_data.read_regions()]
    counts = {"110000": 3, "120000": 1, "440000": 4, "650000": 2}
    result = {r["region"]: (r["count"], r["share"])
              for r in national_stats.region_counts(counts, regions, 10)}
    assert result["beijing_tianjin_hebei"] == (4, 0.4)
    assert result["pearl_river_delta"] == (4, 0.4)
    assert result["others"] == (2, 0.2)
    assert result["yangtze_river_delta"] == (0, 0.0)


def test_category_shares_read_both_ways():
    categories = [("working_environment", "作业环境", "Working environment"),
                  ("facilities", "设施设备", "Facilities")]
    rows = national_stats.category_shares({"working_environment": 3, "legacy": 1}, categories,
                                          assessed=8, compliant=2)
    first = rows[0]
    assert (first["failed"], first["fail_share"], first["fail_share_noncompliant"]) == (3, 0.375, 0.5)
    assert first["survey_fail_share_noncompliant"] == 0.79
    assert rows[1]["failed"] == 0
    assert rows[2]["category"] == "legacy"  # a category only older checklists had
    assert national_stats.category_shares({}, categories, 0, 0)[0]["fail_share"] == 0.0


def test_failed_categories_of_an_assessment():
    results = {"working_environment": {"applicable": 10, "passed": 9, "failed": [3]},
               "facilities": {"applicable": 10, "passed": 10, "failed": []}}
    assert national_stats.failed_categories(results) == ["working_environment"]
    assert national_stats.failed_categories(None) == []


def test_the_survey_figures_are_recorded_as_printed():
    survey = national_stats.SURVEY_2022
    assert survey["total_outlets"] == 10257 and survey["top_province"]["count"] == 1062
    # The paper's rounding, noted rather than silently "fixed".
    assert round(6116 / 10257, 4) == 0.5963 and survey["top10_provinces"]["share"] == 0.597
    assert round(8811 / 10257, 4) == 0.859


def test_the_full_plan_matches_the_survey(full_plan):
    figures = full_plan.figures()
    assert figures["outlets"] == 10257
    assert figures["provinces"] == 31
    assert figures["prefecture_regions"] == full_plan.covered_prefectures == 326
    assert figures["guangdong"] == 1062
    assert figures["top10_provinces"] == 6116
    assert figures["co_built"] == 2566
    assert figures["top20_firms"] == 8811
    assert figures["manufacturers"] >= 150 and figures["utilization_firms"] >= 30
    assert figures["compliant"] == round(0.25 * 10257)
    shares = figures["category_failing_noncompliant"]
    assert shares["working_environment"] == pytest.approx(0.79, abs=0.002)
    assert shares["facilities"] == pytest.approx(0.83, abs=0.002)
    assert shares["systems_processes"] == pytest.approx(0.58, abs=0.002)


def test_guangdong_leads_and_the_top_ten_are_the_calibrated_ones(full_plan):
    counts = Counter(o.province_code for o in full_plan.outlets)
    ranked = [code for code, _n in counts.most_common()]
    assert ranked[0] == "440000"
    assert counts == Counter(demo_pool.PROVINCE_COUNTS)


def test_every_outlet_is_consistent(full_plan, index):
    for outlet in full_plan.outlets:
        # the assessment matches the compliance flag, and every non-compliant outlet fails
        failing = [c for c, r in outlet.category_results.items() if r["failed"]]
        assert outlet.compliant == (not failing)
        assert len(outlet.answers) == 24
        # it sits within a few km of its district (or city) centre
        centre = index.get(outlet.district_code or outlet.city_code)
        assert abs(outlet.lat - centre.lat) < 0.03 and abs(outlet.lon - centre.lon) < 0.05
        place = index.get(outlet.district_code) if outlet.district_code else None
        assert place is None or place.prefecture_code == outlet.city_code
        # type limits of the rule sets: collection >= 10 m2 and <= 5 t; centralized >= 30 t
        if outlet.type == "collection":
            assert outlet.storage_area_m2 >= 10 and outlet.max_stored_weight_t <= 5
        else:
            assert outlet.max_stored_weight_t >= 30
        if outlet.offer:
            assert outlet.compliant
            assert 0 < outlet.offer["capacity_t_per_year"] <= outlet.annual_capacity_t
            assert isinstance(outlet.offer["annual_fee_fen"], int)


def test_addresses_resolve_to_the_outlets_own_division(full_plan, index):
    for outlet in full_plan.outlets[::7]:
        resolved = index.resolve(outlet.address)
        assert resolved is not None and resolved.best.code == (outlet.district_code or outlet.city_code)


def test_providers_have_valid_marked_credit_codes(full_plan):
    generated = [p for p in full_plan.providers if p.provider_type != "demo"]
    codes = [p.credit_code for p in generated]
    assert len(set(codes)) == len(codes)
    assert len({p.legal_name for p in full_plan.providers}) == len(full_plan.providers)
    for code in codes:
        assert credit_code.check(code).ok and code[8:10] == demo_pool.MARKER
    demo = next(p for p in full_plan.providers if p.provider_type == "demo")
    assert demo.legal_name == demo_pool.DEMO_PROVIDER_NAME and demo.outlets == 12
    mine = [o for o in full_plan.outlets if o.provider == demo.key]
    assert {o.province_code for o in mine} == set(demo_pool.DEMO_PROVIDER_PROVINCES)
    assert 0 < sum(o.compliant for o in mine) < len(mine)


def test_the_plan_is_deterministic_and_scales(index, items):
    first = demo_pool.plan(7, 400, index, items)
    again = demo_pool.plan(7, 400, index, items)
    other = demo_pool.plan(8, 400, index, items)
    assert [(o.name, o.address, o.lat, o.lon, o.compliant) for o in first.outlets] == \
        [(o.name, o.address, o.lat, o.lon, o.compliant) for o in again.outlets]
    assert [o.address for o in first.outlets] != [o.address for o in other.outlets]
    figures = first.figures()
    assert figures["outlets"] == 400 and figures["provinces"] == 31
    assert figures["compliant"] == 100
    assert figures["top20_firms"] == round(8811 * 400 / 10257)


def test_largest_remainder_sums_exactly():
    assert demo_pool.largest_remainder(10, [1, 1, 1]) == [4, 3, 3]
    assert sum(demo_pool.largest_remainder(10257, [k ** -0.6 for k in range(1, 21)])) == 10257
    assert demo_pool.largest_remainder(0, [1, 2]) == [0, 0]
