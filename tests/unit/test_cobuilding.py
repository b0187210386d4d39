"""The co-building saving on hand-built instances whose answer is known by hand."""

from __future__ import annotations

from services.cobuilding import MakerDemand, compare
from services.coverage_planner import Candidate, Demand
from services.money import split_largest_remainder

FEE = 100_000


def _outlet(id_, city, fee=FEE, capacity=100.0, handling=1_000, kind="collection"):
    return Candidate(id=id_, outlet_type=kind, city=city, capacity_t=capacity,
                     annual_fee_fen=fee, handling_fee_fen_per_t=handling, name=f"O{id_}")


def test_sharing_one_outlet_saves_exactly_one_annual_fee():
    demands = [MakerDemand(1, Demand("440300", "collection", 10.0)),
               MakerDemand(2, Demand("440300", "collection", 30.0))]
    result = compare(demands, [_outlet(1, "440300")])
    # alone: each pays the fee and its handling; together the fee is paid once
    assert [m.standalone_cost_fen for m in result.makers] == [FEE + 10_000, FEE + 30_000]
    assert result.joint_cost_fen == FEE + 40_000
    assert result.total_saving_fen == FEE and result.comparable and result.status == "optimal"
    assert sum(m.saving_share_fen for m in result.makers) == result.total_saving_fen
    # proportional to standalone cost: 110,000 : 130,000
    assert [m.saving_share_fen for m in result.makers] == [45_833, 54_167]
    # the fee is split pro rata to tonnage (1:3) and the joint costs sum to the joint plan
    assert [m.joint_cost_fen for m in result.makers] == [25_000 + 10_000, 75_000 + 30_000]
    assert sum(m.joint_cost_fen for m in result.makers) == result.joint_cost_fen
    assert [o.fee_shares_fen for o in result.shared_outlets] == [{1: 25_000, 2: 75_000}]
    assert sum(m.settlement_fen for m in result.makers) == 0


def test_a_maker_with_nothing_in_common_saves_nothing():
    demands = [MakerDemand(1, Demand("440300", "collection", 10.0)),
               MakerDemand(2, Demand("440300", "collection", 10.0)),
               MakerDemand(3, Demand("430100", "collection", 50.0))]
    result = compare(demands, [_outlet(1, "440300"), _outlet(2, "430100", fee=500_000)])
    assert result.total_saving_fen == FEE
    third = result.for_maker(3)
    assert third.saving_share_fen == 0 and third.shared_outlets == 0
    assert third.joint_cost_fen == third.standalone_cost_fen == 550_000
    assert [m.saving_share_fen for m in result.makers] == [50_000, 50_000, 0]


def test_shares_sum_exactly_to_the_total_with_awkward_remainders():
    demands = [MakerDemand(m, Demand("440300", "collection", t))
               for m, t in ((1, 1.0), (2, 2.0), (3, 4.0))]
    result = compare(demands, [_outlet(1, "440300", fee=100_001, handling=7)])
    assert result.total_saving_fen == 2 * 100_001
    assert sum(m.saving_share_fen for m in result.makers) == result.total_saving_fen
    assert all(m.saving_share_fen >= 0 for m in result.makers)
    assert sum(m.joint_cost_fen for m in result.makers) == result.joint_cost_fen


def test_shared_capacity_that_cannot_serve_everyone_is_reported_not_a_saving():
    demands = [MakerDemand(1, Demand("440300", "collection", 60.0)),
               MakerDemand(2, Demand("440300", "collection", 60.0))]
    result = compare(demands, [_outlet(1, "440300", capacity=100.0)])
    assert not result.comparable and result.reason == "fewer_demands_covered_together"
    assert result.left_out_cities == []  # nothing left to compare: not "left out", not comparable
    assert result.total_saving_fen == 0
    assert all(m.saving_share_fen == 0 for m in result.makers)


def test_a_contended_city_is_left_out_and_the_others_still_compared():
    # Changsha's one outlet cannot take both makers' 60 t; in Shenzhen one outlet serves both.
    demands = [MakerDemand(1, Demand("440300", "collection", 10.0)),
               MakerDemand(2, Demand("440300", "collection", 30.0)),
               MakerDemand(1, Demand("430100", "collection", 60.0)),
               MakerDemand(2, Demand("430100", "collection", 60.0))]
    result = compare(demands, [_outlet(1, "440300"), _outlet(2, "430100", capacity=100.0)])
    assert result.comparable and result.reason is None
    assert result.left_out_cities == ["430100"]
    assert result.total_saving_fen == FEE  # Shenzhen's fee, paid once
    assert [m.standalone_cost_fen for m in result.makers] == [FEE + 10_000, FEE + 30_000]
    assert sum(m.saving_share_fen for m in result.makers) == FEE


def test_split_largest_remainder():
    assert split_largest_remainder(10, [1, 1, 1]) == [4, 3, 3]
    assert split_largest_remainder(0, [1, 2]) == [0, 0]
    assert split_largest_remainder(5, [0, 0]) == [3, 2]
    assert split_largest_remainder(7, [0, 3, -1]) == [0, 7, 0]


def test_a_maker_worse_off_under_the_fee_split_is_owed_a_settlement():
    # Alone each uses the small outlet (100,000); together 50 t do not fit in it, so both go
    # to the large one (150,000 once). The fee split by tonnage (4:1) would charge the big
    # maker 120,000, more than alone: its saving share still stands and the difference is
    # a side payment owed to it by the other.
    demands = [MakerDemand(1, Demand("440300", "collection", 40.0)),
               MakerDemand(2, Demand("440300", "collection", 10.0))]
    result = compare(demands, [_outlet(1, "440300", fee=100_000, capacity=45.0, handling=0),
                               _outlet(2, "440300", fee=150_000, capacity=100.0, handling=0)])
    assert result.total_saving_fen == 50_000
    big, small = result.makers
    assert big.joint_cost_fen == 120_000 > big.standalone_cost_fen == 100_000
    assert big.saving_share_fen == small.saving_share_fen == 25_000
    assert big.cost_after_sharing_fen == small.cost_after_sharing_fen == 75_000
    assert (big.settlement_fen, small.settlement_fen) == (45_000, -45_000)
