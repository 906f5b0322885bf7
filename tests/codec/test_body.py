"""Body fields (spec/commands.md §2.1 and §3): numbers, pins, pin types and `dashId-targetId`.

The reference is upstream Java: `ParseUtil.parseInt` is `Integer.parseInt` with NumberFormatException
turned into ILLEGAL_COMMAND, and `StringUtils.split2Device` splits at the first `-` found from index 1.
"""
import re

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from blynklite.codec.body import parse_int, parse_pin, parse_pin_type, parse_target
from blynklite.codec.commands import Status, StatusError

PROPERTY = settings(max_examples=300, deadline=None)

INT_MIN, INT_MAX = -2**31, 2**31 - 1
_JAVA_INT = re.compile(r"[+-]?[0-9]+", re.ASCII)


def java_parse_int(text):
    """Integer.parseInt restricted to ASCII digits; None where Java throws NumberFormatException."""
    if not _JAVA_INT.fullmatch(text):
        return None
    sign = -1 if text[0] == "-" else 1
    digits = text.lstrip("+-").lstrip("0") or "0"
    if len(digits) > 10:          # beyond any int; avoids Python's 4300-digit conversion limit
        return None
    value = sign * int(digits)
    return value if INT_MIN <= value <= INT_MAX else None


def java_parse_target(field):
    """split2Device (first '-' from index 1) then parseInt on each part."""
    i = field.find("-", 1)
    parts = [field] if i == -1 else [field[:i], field[i + 1:]]
    values = [java_parse_int(p) for p in parts]
    if None in values:
        return None
    return values[0], values[1] if len(values) == 2 else 0


def assert_illegal_command(parse, text):
    with pytest.raises(StatusError) as caught:
        parse(text)
    assert caught.value.status == Status.ILLEGAL_COMMAND


# Text near the number grammar: digits, signs, spaces, separators and non-ASCII digits.
NUMBERISH = st.text(alphabet="0123456789+- .,_\0x١²٣", max_size=14)
ANY_TEXT = st.text(max_size=30) | NUMBERISH


# --- parse_int -------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, value", [
    ("0", 0), ("7", 7), ("123", 123), ("-5", -5), ("+5", 5), ("-0", 0), ("007", 7),
    ("2147483647", INT_MAX), ("-2147483648", INT_MIN),
])
def test_parse_int_accepts_what_java_accepts(text, value):
    assert parse_int(text) == value


@pytest.mark.parametrize("text", [
    "", "+", "-", "--1", "+-1", " 1", "1 ", "1.0", "1,0", "1e3", "0x10", "1_000", "١", "1١", "²",
    "\x001", "1\x00", "a", "one",
], ids=repr)
def test_parse_int_rejects_what_java_rejects(text):
    assert_illegal_command(parse_int, text)


@pytest.mark.parametrize("text", ["2147483648", "-2147483649", "99999999999", "9" * 30])
def test_parse_int_rejects_values_outside_the_java_int_range(text):
    assert_illegal_command(parse_int, text)


def test_parse_int_of_a_huge_digit_string_is_illegal_command():
    assert_illegal_command(parse_int, "1" * 5000)


def test_parse_int_ignores_any_number_of_leading_zeros():
    assert parse_int("0" * 5000 + "7") == 7


@PROPERTY
@given(text=ANY_TEXT)
@example(text="١")
@example(text="+")
def test_parse_int_matches_java(text):
    expected = java_parse_int(text)
    if expected is None:
        assert_illegal_command(parse_int, text)
    else:
        assert parse_int(text) == expected


# --- parse_pin -------------------------------------------------------------------------------------

@given(pin=st.integers(0, 255))
@settings(max_examples=50, deadline=None)
def test_parse_pin_accepts_0_to_255(pin):
    assert parse_pin(str(pin)) == pin


@pytest.mark.parametrize("text", ["256", "-1", "1000", "", "v1", "1.5", " 3"], ids=repr)
def test_parse_pin_outside_0_255_or_not_a_number_is_illegal_command(text):
    assert_illegal_command(parse_pin, text)


# --- parse_pin_type --------------------------------------------------------------------------------

@pytest.mark.parametrize("letter, pin_type", [
    ("d", "DIGITAL"), ("D", "DIGITAL"), ("a", "ANALOG"), ("A", "ANALOG"), ("v", "VIRTUAL"), ("V", "VIRTUAL"),
])
def test_parse_pin_type_accepts_d_a_v_in_either_case(letter, pin_type):
    assert parse_pin_type(letter) == pin_type


@PROPERTY
@given(letter=st.text(max_size=3))
@example(letter="")
@example(letter="x")
@example(letter="vw")
def test_parse_pin_type_rejects_everything_else(letter):
    if letter in ("d", "D", "a", "A", "v", "V"):
        return
    assert_illegal_command(parse_pin_type, letter)


# --- parse_target ----------------------------------------------------------------------------------

@pytest.mark.parametrize("field, target", [
    ("1", (1, 0)), ("1-2", (1, 2)), ("123-200000", (123, 200000)), ("-1", (-1, 0)), ("-1-2", (-1, 2)),
    ("1--2", (1, -2)), ("0-0", (0, 0)),
])
def test_parse_target_reads_dash_id_and_optional_target(field, target):
    assert parse_target(field) == target


@pytest.mark.parametrize("field", ["a-1", "1-a", "1-", "-", "", "1-2-3", "1 -2", "1-2 "], ids=repr)
def test_parse_target_with_a_bad_part_is_illegal_command(field):
    assert_illegal_command(parse_target, field)


@PROPERTY
@given(field=ANY_TEXT)
def test_parse_target_matches_java_split2device(field):
    expected = java_parse_target(field)
    if expected is None:
        assert_illegal_command(parse_target, field)
    else:
        assert parse_target(field) == expected


# --- no parser lets another exception escape -------------------------------------------------------

@pytest.mark.parametrize("parse", [parse_int, parse_pin, parse_pin_type, parse_target],
                         ids=lambda f: f.__name__)
@PROPERTY
@given(text=st.text(max_size=40))
def test_any_text_returns_or_raises_status_error(parse, text):
    try:
        parse(text)
    except StatusError as error:
        assert error.status == Status.ILLEGAL_COMMAND
