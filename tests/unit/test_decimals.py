"""Decimal rules (issue 15): DynamoDB's 38 digits, one spelling per value, strict text.

The oracle of every property is Python's exact `Decimal` comparison of the texts, never the
code under test: two texts must hash equal exactly when `Decimal(a) == Decimal(b)`.
"""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from tests.support.examples import examples

from asset_sync.logic.models import DECIMAL_CONTEXT, canonical, content_hash, decimal_text
from asset_sync.logic.validation import (
    MAX_DECIMAL_DIGITS,
    MAX_DECIMAL_EXPONENT,
    RecordError,
    parse_decimal,
)


def parse(text: str, *, quoted: bool = True) -> Decimal:
    raw = json.dumps(text) if quoted else text
    return parse_decimal("price_increment", raw.encode())


def hash_of(value: Decimal) -> str:
    return content_hash({"price_increment": value})


# -- what is accepted, and as what ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("30", "30"),
        ("30.00", "30.00"),
        ("+5", "5"),
        ("5.", "5"),
        (".5", "0.5"),
        ("-0.000000001", "-1E-9"),
        ("1E+29", "1" + "0" * 29),
        ("1e29", "1" + "0" * 29),
        ("1E+30", "1" + "0" * 30),
        ("9.99E+30", "999" + "0" * 28),
        ("1E-30", "1E-30"),
        ("-2.5e-30", "-2.5E-30"),
        ("0E+100", "0"),
        ("0E-100", "0"),
        ("1" * 31 + "." + "1" * 7, "1" * 31 + "." + "1" * 7),
        ("0." + "1" * 38, "0." + "1" * 38),
    ],
)
def test_accepted_decimal_text_keeps_its_value(text: str, value: str) -> None:
    for quoted in (True, False):
        parsed = parse(text, quoted=quoted)
        assert parsed == Decimal(value)
        assert parsed.as_tuple().exponent == Decimal(text).as_tuple().exponent or (
            Decimal(text).as_tuple().exponent > 0  # type: ignore[operator]
        )


def test_a_positive_exponent_is_spelled_out_exactly() -> None:
    parsed = parse("1.5E+3")
    assert (format(parsed, "f"), parsed.as_tuple().exponent) == ("1500", 0)
    assert parse("1E+1").as_tuple() == Decimal("10").as_tuple()
    assert parse("25").as_tuple() == Decimal("25").as_tuple()
    wide = parse("1234567890123456789012345678901234567.8E-7")
    assert format(wide, "f") == "123456789012345678901234567890.12345678"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("1_0", "not a decimal number"),
        (" 30 ", "not a decimal number"),
        ("30 ", "not a decimal number"),
        ("\t30", "not a decimal number"),
        ("3_0.0", "not a decimal number"),
        ("1.2.3", "not a decimal number"),
        ("", "not a decimal number"),
        ("-", "not a decimal number"),
        (".", "not a decimal number"),
        ("1e", "not a decimal number"),
        ("e5", "not a decimal number"),
        ("NaN", "not a decimal number"),
        ("Infinity", "not a decimal number"),
        ("-inf", "not a decimal number"),
        ("0x10", "not a decimal number"),
        ("30,5", "not a decimal number"),
        ("١٢", "not a decimal number"),  # Arabic-Indic digits: Decimal() takes them
        ("1" * 39, f"more than {MAX_DECIMAL_DIGITS} significant digits"),
        ("0." + "1" * 39, f"more than {MAX_DECIMAL_DIGITS} significant digits"),
        ("1E+31", f"out of range (|exponent| > {MAX_DECIMAL_EXPONENT})"),
        ("1" * 32, f"out of range (|exponent| > {MAX_DECIMAL_EXPONENT})"),
        ("1E-31", f"out of range (|exponent| > {MAX_DECIMAL_EXPONENT})"),
        ("-0.99E-30", f"out of range (|exponent| > {MAX_DECIMAL_EXPONENT})"),
    ],
)
def test_rejected_decimal_text_names_the_field_and_the_rule(text: str, reason: str) -> None:
    with pytest.raises(RecordError) as error:
        parse(text)
    assert str(error.value).startswith("`price_increment` ")
    assert reason in str(error.value)


def test_a_long_bad_string_is_quoted_shortened_in_the_reason() -> None:
    with pytest.raises(RecordError) as error:
        parse("x" * 100)
    assert str(error.value) == f"`price_increment` is not a decimal number: {'x' * 40 + '…'!r}"


@pytest.mark.parametrize("raw", ["null", "true", "false", '{"n": 1}', "[1]", "NaN", "1_0"])
def test_a_json_value_that_is_no_number_is_rejected(raw: str) -> None:
    with pytest.raises(RecordError, match="must be a decimal number or a decimal string"):
        parse(raw, quoted=False)


def test_the_limits_are_exact() -> None:
    widest = "9" * (MAX_DECIMAL_EXPONENT + 1) + "." + "9" * (MAX_DECIMAL_DIGITS - 31)
    assert parse(widest) == Decimal(widest)
    assert parse(f"1E+{MAX_DECIMAL_EXPONENT}") == Decimal(10) ** MAX_DECIMAL_EXPONENT
    assert parse(f"1E-{MAX_DECIMAL_EXPONENT}") == Decimal(10) ** -MAX_DECIMAL_EXPONENT
    assert parse(f"9.{'9' * 36}E+{MAX_DECIMAL_EXPONENT}")  # 37 digits at the top exponent
    for beyond in (widest + "9", f"1E+{MAX_DECIMAL_EXPONENT + 1}", "9" * 32):
        with pytest.raises(RecordError):
            parse(beyond)
    with pytest.raises(RecordError):
        parse(f"9.9E-{MAX_DECIMAL_EXPONENT + 1}")


# -- one spelling per value ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("30.00", "30"),
        ("30", "30"),
        ("-0", "0"),
        ("-0.000", "0"),
        ("0E+5", "0"),
        ("1E+2", "100"),
        ("1.50", "1.5"),
        ("-1.50", "-1.5"),
        ("0.000000001", "0.000000001"),
        ("1E-30", "0." + "0" * 29 + "1"),
        ("0." + "1234567890" * 3 + "12345678", "0." + "1234567890" * 3 + "12345678"),
        ("1" * 31 + "." + "1" * 7 + "000", "1" * 31 + "." + "1" * 7),
    ],
)
def test_decimal_text_is_the_value_without_rounding(value: str, text: str) -> None:
    assert decimal_text(Decimal(value)) == text


def test_canonical_forms() -> None:
    assert canonical(Decimal("30.00")) == {"N": "30"}
    assert canonical(("a", "b")) == ["a", "b"]
    assert canonical("30") == "30"  # a string is not a number
    assert canonical(True) is True
    assert hash_of(Decimal(30)) != content_hash({"price_increment": "30"})


def test_the_context_is_wide_enough_for_any_stored_number() -> None:
    assert DECIMAL_CONTEXT.prec >= 2 * MAX_DECIMAL_DIGITS
    assert DECIMAL_CONTEXT.Emax >= 125 and DECIMAL_CONTEXT.Emin <= -130  # DynamoDB's range


def test_values_differing_in_any_of_38_digits_hash_apart() -> None:
    base = "1234567890" * 3 + "12345678"
    for position in range(38):
        digit = str((int(base[position]) + 1) % 10)
        other = base[:position] + digit + base[position + 1 :]
        for point in (0, 1, 37):  # 0.xxx, x.xxx, 37 digits before the point
            a, b = Decimal(f"0.{base}"), Decimal(f"0.{other}")
            if point:
                a, b = (
                    Decimal(f"{base[:point]}.{base[point:]}"),
                    Decimal(f"{other[:point]}.{other[point:]}"),
                )
            assert hash_of(a) != hash_of(b), (position, point)


# -- properties ------------------------------------------------------------------------------

coefficients = st.one_of(
    st.integers(0, 10**MAX_DECIMAL_DIGITS - 1), st.integers(0, 999), st.just(0)
)
exponents = st.integers(-2 * MAX_DECIMAL_EXPONENT, MAX_DECIMAL_EXPONENT)


@st.composite
def accepted_values(draw: st.DrawFn) -> Decimal:
    """A value validation accepts, by the rules as the issue states them (oracle: Decimal)."""
    coefficient, exponent = draw(coefficients), draw(exponents)
    sign = draw(st.sampled_from(["", "-"]))
    value = Decimal(f"{sign}{coefficient}E{exponent}")
    assume(value.is_zero() or abs(value.adjusted()) <= MAX_DECIMAL_EXPONENT)
    return value


@st.composite
def spellings(draw: st.DrawFn, value: Decimal) -> str:
    """Another text of exactly `value`: fixed or scientific, trailing zeros, a sign on 0."""
    zeros = draw(st.integers(0, 3))
    fixed = format(value, "f")
    if zeros and value.as_tuple().exponent <= 0:  # type: ignore[operator]
        padded = fixed + ("" if "." in fixed else ".") + "0" * zeros
        if len(Decimal(padded).as_tuple().digits) <= MAX_DECIMAL_DIGITS:
            fixed = padded
    sign, digits, exponent = value.as_tuple()
    scientific = f"{'-' if sign else ''}{''.join(map(str, digits))}E{exponent}"
    options = [fixed, scientific, scientific.lower()]
    if value.is_zero():
        options += ["-0", "0", "-0.00", "0E+7"]
    return draw(st.sampled_from(options))


@st.composite
def text_pairs(draw: st.DrawFn) -> tuple[str, str]:
    a = draw(accepted_values())
    how = draw(st.sampled_from(["respelled", "last-digit", "other"]))
    if how == "respelled":
        b = a
    elif how == "last-digit":
        # one unit in the last place, added exactly (Python's default context would round)
        b = DECIMAL_CONTEXT.add(a, Decimal((0, (1,), a.as_tuple().exponent)))
        assume(len(b.as_tuple().digits) <= MAX_DECIMAL_DIGITS)
        assume(b.is_zero() or abs(b.adjusted()) <= MAX_DECIMAL_EXPONENT)
    else:
        b = draw(accepted_values())
    return draw(spellings(a)), draw(spellings(b))


@settings(max_examples=examples(400), deadline=None)
@given(pair=text_pairs())
def test_hashes_are_equal_exactly_when_the_values_are(pair: tuple[str, str]) -> None:
    a_text, b_text = pair
    a, b = parse(a_text), parse(b_text)
    assert a == Decimal(a_text) and b == Decimal(b_text)  # nothing rounded on the way in
    assert (hash_of(a) == hash_of(b)) == (Decimal(a_text) == Decimal(b_text))
    assert (decimal_text(a) == decimal_text(b)) == (Decimal(a_text) == Decimal(b_text))
    assert Decimal(decimal_text(a)) == Decimal(a_text)  # the spelling keeps the value


@settings(max_examples=examples(200), deadline=None)
@given(value=accepted_values())
def test_every_spelling_of_an_accepted_value_parses_to_it(value: Decimal) -> None:
    for text in (format(value, "f"), f"{value:E}", str(value)):
        if len(Decimal(text).as_tuple().digits) > MAX_DECIMAL_DIGITS:
            continue
        assert parse(text) == value
        assert parse(text, quoted=False) == value
