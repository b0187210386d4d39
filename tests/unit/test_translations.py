"""Chinese is the platform's first language: every message the code can show has a translation."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
CATALOG = ROOT / "app/translations/zh/LC_MESSAGES/messages.po"
KEYWORDS = {"_": None, "_l": None, "gettext": None, "lazy_gettext": None,
            "ngettext": (1, 2), "lazy_ngettext": (1, 2),
            "pgettext": ((1, "c"), 2), "_lp": ((1, "c"), 2), "lazy_pgettext": ((1, "c"), 2)}


def catalog():
    with CATALOG.open("rb") as handle:
        return read_po(handle)


def messages_in_code() -> set[tuple[str | None, str]]:
    method_map = [("app/**.py", "python"), ("services/**.py", "python"), ("templates/**.html", "jinja2")]
    found = set()
    for _file, _line, message, _comments, context in extract_from_dir(
            str(ROOT), method_map, keywords=KEYWORDS):
        found.add((context, message[0] if isinstance(message, tuple) else message))
    return found


def test_every_message_in_the_code_has_a_chinese_translation():
    translated = {(m.context, m.id[0] if isinstance(m.id, tuple) else m.id) for m in catalog()
                  if m.id and not m.fuzzy and all(m.string if isinstance(m.string, tuple) else [m.string])}
    missing = sorted(messages_in_code() - translated, key=str)
    assert not missing, f"untranslated (make extract-messages, then fill zh): {missing[:20]}"


@pytest.mark.parametrize(("context", "message", "chinese"), [
    (None, "Accept", "受理"),  # a certifier takes an application in
    ("capacity request", "Accept", "接受"),  # a provider agrees to a maker's request
    ("capacity request", "Accepted", "已接受"),
    ("capacity request", "Declined", "已拒绝"),
    (None, "Issued on", "发证日期"),  # a certificate
    ("invoice", "Issued on", "开具日期"),  # as the invoice PDF says
    ("agreement", "Active", "生效中"),  # a scheme that is Active (启用) takes applications
    (None, "Verified", "已通过审核"),  # an organization the operator checked, not a certified outlet
])
def test_one_english_word_in_two_trades_is_two_chinese_words(context, message, chinese):
    assert catalog().get(message, context=context).string == chinese
