"""The agreement PDF prints the shared costs frozen in the version: each pool with its lines
(and the checklist item each one-off line fixes) and every maker's share, in both languages;
the reason "costs" reads 费用变更 / Cost change."""

from __future__ import annotations

from datetime import date

from services import agreement_document, cost_sharing
from tests.unit.test_agreement_pdf import MAKER, OUTLET, PROVIDER, allocation, flat, read, render

OTHER = {"id": 6, "legal_name": "华东动力电池有限公司", "credit_code": "91310000MA1K4XYZ3B"}
PARTIES = [{"id": 5, "tonnes_per_year": 60, "parc": 0}, {"id": 6, "tonnes_per_year": 20, "parc": 0}]
POOLS = cost_sharing.document_part([
    {"id": 1, "name": "Brine tank", "kind": "one_off", "rule": "capacity", "custom_weights": None,
     "lines": [{"description": "盐水池", "amount_fen": 1_000_001, "checklist_item": 12},
               {"description": "Sprinklers", "amount_fen": 500_000, "checklist_item": 16}]},
    {"id": 2, "name": "Monitoring", "kind": "recurring", "rule": "equal", "custom_weights": None,
     "lines": [{"description": "Temperature monitoring", "amount_fen": 36_500}]},
], PARTIES)


def costs_document(**overrides) -> dict:
    return agreement_document.build(
        number="OP-AG-2026-000002", version=3, reason="costs", issued_on=date(2026, 11, 25),
        outlet=OUTLET, provider=PROVIDER, offered_t_per_year=500.0,
        allocations=[allocation(MAKER, tonnes_per_year=60.0), allocation(OTHER, tonnes_per_year=20.0)],
        cost_pools=POOLS, **overrides)


def test_cost_pools_and_each_makers_share_in_both_languages():
    document = costs_document()
    sha = agreement_document.sha256_of(document)
    _reader, zh_pages = read(render(document, sha=sha, signatures=[], status="pending"))
    zh = flat("".join(zh_pages))
    assert "共同分摊费用" in zh and "费用变更" in zh
    assert "盐水池" in zh and "检查项12" in zh
    # 1,500,001 fen 60:20 -> 11,250.01 and 3,750.00; 365.00 a year equally -> 182.50 each.
    assert "¥11,250.01" in zh and "¥3,750.00" in zh and "¥182.50/年" in zh
    assert MAKER["legal_name"] in zh and OTHER["legal_name"] in zh
    _reader, en_pages = read(render(document, sha=sha, signatures=[], status="pending", lang="en"))
    en = flat("".join(en_pages))
    assert "Sharedcosts" in en and "Costchange" in en
    assert "CNY11,250.01" in en and "CNY182.50peryear" in en and "checklistitem16" in en


def test_no_cost_section_without_pools():
    _reader, pages = read(render())
    assert "共同分摊费用" not in flat("".join(pages))
