"""Working days on the holiday calendar, and the change filing's comparison (pure)."""

from __future__ import annotations

from datetime import date

from services import filings, working_days


def test_thirty_working_days_across_national_day_2026():
    # Fri 18 Sep 2026: Sun 20 Sep is a make-up working day, 25-27 Sep and 1-7 Oct are off,
    # Sat 10 Oct is worked.
    cal = working_days.calendar()
    assert cal.is_working_day(date(2026, 9, 20)) and cal.is_working_day(date(2026, 10, 10))
    assert not cal.is_working_day(date(2026, 10, 5)) and not cal.is_working_day(date(2026, 9, 25))
    assert working_days.add_working_days(date(2026, 9, 18), 30) == date(2026, 11, 5)
    # 20 Sep counted, 25 Sep and 1-7 Oct not, 10 Oct counted; weekdays alone give 30 Oct
    weekdays_only = working_days.parse({"years": {}})
    assert weekdays_only.add_working_days(date(2026, 9, 18), 30) == date(2026, 10, 30)


def test_spring_festival_2026_and_calendar_coverage():
    assert working_days.add_working_days(date(2026, 2, 13), 1) == date(2026, 2, 14)  # Saturday worked
    assert working_days.add_working_days(date(2026, 2, 14), 1) == date(2026, 2, 24)
    cal = working_days.calendar()
    assert cal.covered(date(2025, 1, 1), date(2026, 12, 31))
    assert not cal.covered(date(2026, 12, 1), date(2027, 2, 1))  # 2027 is provisional


def _snapshot(rows):
    return {"rows": [{"outlet_id": i, "values": {"outlet_name": n, "address": a, "joint_confirmation": j,
                                                 "row_number": k}}
                     for k, (i, n, a, j) in enumerate(rows, 1)], "flagged": []}


def test_diff_lists_added_removed_and_changed_fields_but_not_confirmation_or_numbering():
    old = _snapshot([(1, "甲", "路1号", "未确认"), (2, "乙", "路2号", "未确认")])
    new = _snapshot([(2, "乙", "路3号", "已确认"), (3, "丙", "路4号", "未确认")])
    result = filings.diff(old, new)
    assert [r["outlet_id"] for r in result["added"]] == [3]
    assert [r["outlet_id"] for r in result["removed"]] == [1]
    assert result["changed"] == [{"outlet_id": 2, "outlet_name": "乙", "fields": [
        {"key": "address", "header": "详细地址", "old": "路2号", "new": "路3号"}]}]
    same = _snapshot([(2, "乙", "路3号", "未确认"), (3, "丙", "路4号", "已确认")])
    assert filings.fingerprint(new["rows"]) == filings.fingerprint(same["rows"])
