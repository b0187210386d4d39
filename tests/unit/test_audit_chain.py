"""The hash chain: appended rows verify; any altered, removed or inserted row is found."""

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from services import audit


@dataclass
class Row:
    id: int
    occurred_at: datetime
    action: str
    actor_user_id: int | None = 1
    actor_label: str = "a@example.com"
    organization_id: int | None = 9
    subject_type: str = "organization"
    subject_id: str | None = "9"
    data: dict = field(default_factory=dict)
    ip_address: str | None = "127.0.0.1"
    prev_hash: str = ""
    hash: str = ""


def chain(n=5):
    rows, prev = [], audit.GENESIS_HASH
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for i in range(1, n + 1):
        row = Row(id=i, occurred_at=start + timedelta(minutes=i), action=f"thing.{i}",
                  data={"n": i, "名称": "测试"}, prev_hash=prev)
        row.hash = audit.compute_hash(prev, audit._fields(row))
        rows.append(row)
        prev = row.hash
    return rows


def test_an_untouched_chain_verifies():
    report = audit.verify_rows(iter(chain()))
    assert report.ok and report.checked == 5


def test_an_altered_row_is_reported_as_altered():
    rows = chain()
    rows[2] = replace(rows[2], data={"n": 999, "名称": "测试"})
    report = audit.verify_rows(iter(rows))
    assert report.broken.event_id == 3 and "altered" in report.broken.reason


def test_a_deleted_row_breaks_the_next_link():
    rows = chain()
    del rows[1]
    report = audit.verify_rows(iter(rows))
    assert report.broken.event_id == 3 and "deleted" in report.broken.reason


def test_a_rehashed_forgery_still_breaks_the_following_link():
    rows = chain()
    forged = replace(rows[1], action="thing.forged")
    forged.hash = audit.compute_hash(forged.prev_hash, audit._fields(forged))
    rows[1] = forged
    report = audit.verify_rows(iter(rows))
    assert report.broken.event_id == 3


def test_hashing_is_canonical_regardless_of_key_order():
    assert audit.canonical_payload({"b": 1, "a": 2}) == audit.canonical_payload({"a": 2, "b": 1})
