import pytest

from services import credit_code

# The GB 32100 example and codes printed on well-known companies' public licences; a random
# 18-character string passes with probability 1/31, so five passing is strong evidence.
VALID = ["91350100M000100Y43", "91330100716105852F", "91110108551385082Q",
         "914403001922038216", "91310000MA1FL1MMXL"]


@pytest.mark.parametrize("code", VALID)
def test_real_codes_pass(code):
    assert credit_code.check(code).ok


def test_lower_case_and_spaces_are_forgiven_and_normalized():
    result = credit_code.check(" 91350100m000100y43 ")
    assert result.ok and result.normalized == "91350100M000100Y43"


def test_a_wrong_check_character_is_named_with_the_expected_one():
    result = credit_code.check("91350100M000100Y44")
    assert not result.ok
    assert result.reason_code == "check_character"
    assert "expected 3" in str(result.reason) and "got 4" in str(result.reason)


@pytest.mark.parametrize(("code", "reason_code"), [
    ("91350100M000100Y4", "length"),
    ("91350100M000100Y433", "length"),
    ("91350100M0001O0Y43", "alphabet"),  # the letter O is not in the alphabet
    ("9135010IM000100Y43", "alphabet"),
    ("91ABCDEFM000100Y43", "division"),
    ("", "length"),
])
def test_malformed_codes_say_why(code, reason_code):
    result = credit_code.check(code)
    assert not result.ok and result.reason_code == reason_code


def test_make_appends_the_right_check_character():
    code = credit_code.make("91440300123456789")
    assert len(code) == 18 and credit_code.check(code).ok


def test_every_single_character_substitution_is_caught():
    code = VALID[0]
    for position in range(17):
        for ch in credit_code.ALPHABET:
            if ch == code[position]:
                continue
            mutated = code[:position] + ch + code[position + 1:]
            if position in range(2, 8) and not ch.isdigit():
                continue  # caught earlier as a bad division code
            assert not credit_code.check(mutated).ok, mutated
