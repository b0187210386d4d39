"""Amounts in whole fen: what the billing services accept as one."""

import pytest

from services.money import is_whole_fen


@pytest.mark.parametrize("value, accepted", [
    (1, True), (500, True), (501, False), (0, False), (-1, False),
    (True, False), (1.0, False), ("100", False), (None, False),
])
def test_is_whole_fen(value, accepted):
    assert is_whole_fen(value, most=500) is accepted
