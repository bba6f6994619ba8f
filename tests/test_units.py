"""parse_quantity: every accepted spelling converts to the canonical unit; everything else is refused."""

import math

import pytest

from imapk.errors import ImapkError, UnitError
from imapk.units import CANONICAL_UNIT, DIMENSIONS, parse_quantity

MASS_UNITS = "mg, g, ug, µg, μg, mcg"
MASS_EXPECTED = f"a string with a mass unit, e.g. '400 mg' (units: {MASS_UNITS})"


@pytest.mark.parametrize(
    ("text", "dimension", "value"),
    [
        ("400 mg", "mass", 400.0),
        ("0.4 g", "mass", 400.0),
        ("400000 ug", "mass", 400.0),
        ("400000 µg", "mass", 400.0),  # micro sign U+00B5
        ("400000 μg", "mass", 400.0),  # Greek mu U+03BC
        ("400000 mcg", "mass", 400.0),
        ("24 h", "time", 24.0),
        ("24 hours", "time", 24.0),
        ("90 min", "time", 1.5),
        ("1 d", "time", 24.0),
        ("14 days", "time", 336.0),
        ("2 wk", "time", 336.0),
        ("347 L", "volume", 347.0),
        ("500 mL", "volume", 0.5),
        ("14.3 L/h", "clearance", 14.3),
        ("100 mL/min", "clearance", 6.0),
        ("24 L/d", "clearance", 1.0),
        ("0.609 1/h", "rate_constant", 0.609),
        ("0.609 h-1", "rate_constant", 0.609),
        ("24 1/d", "rate_constant", 1.0),
        ("1 1/min", "rate_constant", 60.0),
        ("1100 ng/mL", "concentration", 1100.0),
        ("1.1 mg/L", "concentration", 1100.0),
        ("1.1 µg/mL", "concentration", 1100.0),
        ("1100 ug/L", "concentration", 1100.0),
    ],
)
def test_parse_quantity__converts_to_canonical_unit(text, dimension, value):
    assert parse_quantity(text, dimension) == pytest.approx(value, rel=1e-12)


@pytest.mark.parametrize("text", ["400mg", "  400 mg  ", "4e2 mg", "4.0E+2 mg", "+400 mg", "400. mg"])
def test_parse_quantity__spacing_and_number_forms(text):
    assert parse_quantity(text, "mass") == 400.0


def test_parse_quantity__spaces_inside_a_unit_are_ignored():
    assert parse_quantity("14.3 L / h", "clearance") == pytest.approx(14.3)
    assert parse_quantity(".5 h", "time") == 0.5


def test_parse_quantity__negative_values_are_parsed_for_the_caller_to_judge():
    # Range checks belong to the caller (a negative dose is a schedule error, with its own message).
    assert parse_quantity("-400 mg", "mass") == -400.0


def test_every_dimension_has_a_canonical_unit_with_factor_one():
    for dimension, units in DIMENSIONS.items():
        assert units[CANONICAL_UNIT[dimension]] == 1.0


def test_refused__bare_number():
    with pytest.raises(UnitError) as info:
        parse_quantity(400, "mass", key="schedule.phases[0].dose", source="x.toml")
    assert str(info.value) == f"x.toml: schedule.phases[0].dose: a mass needs a unit (got 400; expected {MASS_EXPECTED})"


def test_refused__number_in_a_string_without_unit():
    with pytest.raises(UnitError) as info:
        parse_quantity("400", "mass", key="dose")
    assert str(info.value) == f"dose: a mass needs a unit (got '400'; expected {MASS_EXPECTED})"


def test_refused__unit_of_another_dimension():
    with pytest.raises(UnitError) as info:
        parse_quantity("400 h", "mass", key="dose")
    assert str(info.value) == f"dose: 'h' is a time unit, not a mass unit (got '400 h'; expected {MASS_EXPECTED})"


def test_refused__mass_given_for_a_time():
    with pytest.raises(UnitError, match=r"'mg' is a mass unit, not a time unit \(got '24 mg'"):
        parse_quantity("24 mg", "time")


def test_refused__unknown_unit():
    with pytest.raises(UnitError) as info:
        parse_quantity("0.4 kg", "mass")
    assert str(info.value) == f"unknown mass unit 'kg' (got '0.4 kg'; expected {MASS_EXPECTED})"


def test_refused__a_daily_amount_says_what_a_dose_is():
    with pytest.raises(UnitError) as info:
        parse_quantity("400 mg/d", "mass")
    assert str(info.value) == (
        "unknown mass unit 'mg/d' (a dose is the amount of one administration: write '400 mg' and give the "
        f"interval) (got '400 mg/d'; expected {MASS_EXPECTED})"
    )


def test_refused__units_are_case_sensitive():
    # mL and ML, mg and Mg differ by a factor of 1e9; nothing is guessed.
    with pytest.raises(UnitError, match="unknown mass unit 'MG'"):
        parse_quantity("400 MG", "mass")


@pytest.mark.parametrize("text", ["", "mg", "four hundred mg", "nan mg", "inf mg", "1,000 mg"])
def test_refused__unreadable(text):
    with pytest.raises(UnitError):
        parse_quantity(text, "mass")


def test_refused__unreadable_message():
    with pytest.raises(UnitError) as info:
        parse_quantity("four hundred mg", "mass")
    assert str(info.value) == f"cannot read this mass (got 'four hundred mg'; expected {MASS_EXPECTED})"


def test_refused__overflow_to_infinity():
    with pytest.raises(UnitError) as info:
        parse_quantity("1e308 g", "mass")
    assert str(info.value) == f"mass is not finite (got '1e308 g'; expected {MASS_EXPECTED})"


@pytest.mark.parametrize("value", [True, ["400 mg"], {"value": 400}])
def test_refused__not_a_string(value):
    with pytest.raises(UnitError) as info:
        parse_quantity(value, "mass")
    assert str(info.value) == f"expected a mass quantity (got {value!r}; expected {MASS_EXPECTED})"


def test_refused__none():
    with pytest.raises(UnitError) as info:
        parse_quantity(None, "mass")
    assert str(info.value) == f"expected a mass quantity, got None (expected {MASS_EXPECTED})"


def test_refused__unknown_dimension_is_an_imapk_error():
    with pytest.raises(ImapkError, match="unknown dimension 'weight'"):
        parse_quantity("400 mg", "weight")


def test_result_is_a_finite_float():
    value = parse_quantity("14 d", "time")
    assert isinstance(value, float) and math.isfinite(value) and value == 336.0


# ---------------------------------------------------------------- doses: free base and mesylate

# Standard atomic weights (IUPAC, conventional values) [g/mol], to check the molar masses independently.
ATOMIC_WEIGHT = {"C": 12.011, "H": 1.008, "N": 14.007, "O": 15.999, "S": 32.06}


def molar_mass(formula: dict[str, int]) -> float:
    return sum(ATOMIC_WEIGHT[element] * count for element, count in formula.items())


IMATINIB = {"C": 29, "H": 31, "N": 7, "O": 1}  # C29H31N7O
MESYLATE = {"C": 30, "H": 35, "N": 7, "O": 4, "S": 1}  # C29H31N7O . CH4SO3 (methanesulfonic acid CH3SO3H)


def test_molar_masses_follow_from_the_formulas():
    from imapk.units import IMATINIB_MESYLATE_MOLAR_MASS, IMATINIB_MOLAR_MASS

    assert IMATINIB_MOLAR_MASS == pytest.approx(molar_mass(IMATINIB), abs=0.05)
    assert IMATINIB_MESYLATE_MOLAR_MASS == pytest.approx(molar_mass(MESYLATE), abs=0.05)


def test_parse_dose__400_mg_base_is_478_mg_mesylate():
    from imapk.units import parse_dose

    mesylate_per_base = molar_mass(MESYLATE) / molar_mass(IMATINIB)
    assert 400 * mesylate_per_base == pytest.approx(478, abs=0.5)  # the label's 400 mg tablet
    dose = parse_dose("478 mg mesylate")
    assert dose.form == "mesylate" and dose.written == 478.0
    assert dose.amount == pytest.approx(478 / mesylate_per_base, rel=2e-4)  # 400.1 mg
    assert parse_dose(f"{400 * mesylate_per_base!r} mg mesylate").amount == pytest.approx(400, rel=2e-4)


@pytest.mark.parametrize(
    ("text", "amount", "form"),
    [
        ("400 mg", 400.0, ""),
        ("400 mg base", 400.0, "base"),
        ("400 mg free base", 400.0, "base"),
        ("0.4 g Base", 400.0, "base"),
        ("400mg base", 400.0, "base"),
        ("119.5 mg mesilate", 119.5 * 493.6 / 589.7, "mesylate"),  # INN spelling
        ("478 mg imatinib mesylate", 478 * 493.6 / 589.7, "mesylate"),
    ],
)
def test_parse_dose__spellings(text, amount, form):
    from imapk.units import parse_dose

    dose = parse_dose(text)
    assert dose.amount == pytest.approx(amount, rel=1e-12) and dose.form == form


def test_parse_dose__describes_a_conversion():
    from imapk.units import parse_dose

    assert parse_dose("478 mg mesylate").describe("478 mg mesylate") == (
        "'478 mg mesylate' = 400.1 mg imatinib free base (478 mg x 493.6/589.7, the molar masses of the free "
        "base and the mesylate)"
    )


def test_parse_dose__refuses_an_unknown_form_with_the_hint():
    from imapk.units import parse_dose

    with pytest.raises(UnitError) as info:
        parse_dose("400 mg hydrochloride", key="dose")
    assert str(info.value) == (
        "dose: unknown form of imatinib 'hydrochloride' (got '400 mg hydrochloride'; expected mg of imatinib free "
        "base, '400 mg' or '400 mg base', or mg of the mesylate salt, '478 mg mesylate' (= 400 mg base, converted "
        "by the molar masses 493.6/589.7 g/mol))"
    )


def test_parse_dose__refuses_what_parse_quantity_refuses():
    from imapk.units import parse_dose

    with pytest.raises(UnitError, match=r"^a mass needs a unit \(got 400;"):
        parse_dose(400)
    with pytest.raises(UnitError, match=r"'h' is a time unit, not a mass unit \(got '400 h mesylate';"):
        parse_dose("400 h mesylate")
    with pytest.raises(UnitError, match=r"a dose is the amount of one administration"):
        parse_dose("400 mg/d mesylate")
