"""Unified Social Credit Code (统一社会信用代码), GB 32100-2015.

18 characters: registration authority (1), organization type (1), division code (6),
organization code (9), check character (1). The check character is a mod-31 sum over the
first 17 characters with fixed weights, in an alphabet without I, O, S, V and Z.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import lazy_gettext as _l

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_VALUES = {ch: i for i, ch in enumerate(ALPHABET)}


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    normalized: str
    reason: object = None  # a lazily translated message
    reason_code: str | None = None


def check_character(first17: str) -> str:
    """The check character the first 17 characters call for."""
    total = sum(_VALUES[ch] * w for ch, w in zip(first17, WEIGHTS, strict=True))
    return ALPHABET[(31 - total % 31) % 31]


def check(code: str) -> CheckResult:
    """Validate a code, saying precisely what is wrong. Case and spaces are forgiven."""
    normalized = "".join(str(code or "").split()).upper()
    if len(normalized) != 18:
        return CheckResult(False, normalized,
                           _l("must be 18 characters, got %(n)s", n=len(normalized)), "length")
    bad = sorted({ch for ch in normalized if ch not in _VALUES})
    if bad:
        return CheckResult(False, normalized,
                           _l("contains characters not allowed in a credit code: %(chars)s",
                              chars="".join(bad)),
                           "alphabet")
    if not normalized[2:8].isdigit():
        return CheckResult(False, normalized,
                           _l("characters 3-8 must be the 6-digit administrative division code"),
                           "division")
    expected = check_character(normalized[:17])
    if normalized[17] != expected:
        return CheckResult(False, normalized,
                           _l("check character is wrong: expected %(expected)s, got %(got)s",
                              expected=expected, got=normalized[17]),
                           "check_character")
    return CheckResult(True, normalized)


def make(first17: str) -> str:
    """A valid code from its first 17 characters (demo data and tests)."""
    return first17 + check_character(first17)
