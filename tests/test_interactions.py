"""Drug-drug interactions: the table's factors against the raw numbers of their sources, the conversion,
look-up errors, and the product rule of overlapping periods."""

from __future__ import annotations

import ast
import math
import re
from pathlib import Path

import numpy as np
import pytest

import imapk.interactions as interactions
from imapk.errors import ParameterError
from imapk.interactions import INTERACTIONS, Interaction, cl_factor_at, get_interaction

# --- the table: factor = 1 / (AUC ratio), with the published numbers it comes from ---

#: name -> (AUC(0-inf) with / without, as published, the source's own CL/F ratio where it reports one)
PUBLISHED = {
    # Dutreix 2004: AUC(0-inf) +40 %, CL/F -28.6 %
    "ketoconazole": (1.40, 1.0 - 0.286),
    # Bolton 2004: AUC(0-inf) -74 %, CL/F 385 % of control; label: 3.8-fold
    "rifampicin": (1.0 - 0.74, 3.85),
    # Frye 2004: AUC(0-inf) 34.5 -> 24.2 ug h/mL, CL/F 12.5 -> 17.9 L/h
    "st_johns_wort": (24.2 / 34.5, 17.9 / 12.5),
    # Wen 2006: plasma exposure "reduced by ~68 %"
    "enzyme_inducing_antiepileptics": (1.0 - 0.68, None),
}


def test_table__names_and_types():
    assert set(INTERACTIONS) == {"ketoconazole", "rifampicin", "st_johns_wort", "enzyme_inducing_antiepileptics", "ritonavir"}
    for name, item in INTERACTIONS.items():
        assert isinstance(item, Interaction) and item.name == name
        assert re.search(r"doi:10\.\d{4,9}/\S+", item.citation), name
        assert re.search(r"\b(19|20)\d\d;\d+\(\d+\):\d+-\d+\.", item.citation), name
        assert re.search(r"\bC[12]\b", item.confidence), name
        assert item.effect.strip()


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_table__factor_is_the_inverse_auc_ratio(name):
    ratio, cl_ratio = PUBLISHED[name]
    item = INTERACTIONS[name]
    assert item.auc_ratio == pytest.approx(ratio, rel=1e-12)
    assert item.cl_factor == pytest.approx(1.0 / ratio, rel=1e-12)
    if cl_ratio is not None:
        # the source's own clearance estimate agrees with 1/R to the precision it is printed
        assert item.cl_factor == pytest.approx(cl_ratio, rel=0.01)


def test_table__values():
    assert INTERACTIONS["ketoconazole"].cl_factor == pytest.approx(0.7142857, rel=1e-6)
    assert INTERACTIONS["rifampicin"].cl_factor == pytest.approx(3.8461538, rel=1e-6)
    assert INTERACTIONS["st_johns_wort"].cl_factor == pytest.approx(1.4256198, rel=1e-6)
    assert INTERACTIONS["enzyme_inducing_antiepileptics"].cl_factor == pytest.approx(3.125, rel=1e-12)
    assert INTERACTIONS["ritonavir"].cl_factor == 1.0 and INTERACTIONS["ritonavir"].auc_ratio is None


def test_table__raw_numbers_are_in_the_text():
    text = {name: item.effect for name, item in INTERACTIONS.items()}
    assert "Cmax +26 %" in text["ketoconazole"] and "AUC(0-inf) +40 %" in text["ketoconazole"]
    assert "AUC(0-inf) -74 %" in text["rifampicin"] and "Cmax -54 %" in text["rifampicin"]
    assert "3.8-fold" in text["rifampicin"]
    assert "34.5 -> 24.2" in text["st_johns_wort"] and "-32 %" in text["st_johns_wort"]
    assert "~68 %" in text["enzyme_inducing_antiepileptics"] and "73 %" in text["enzyme_inducing_antiepileptics"]
    assert "42.6" in text["ritonavir"] and "41.2" in text["ritonavir"]
    # the direction of the single-dose caveat is stated for the inhibitor
    assert "OVERSTATES" in INTERACTIONS["ketoconazole"].confidence


def test_interaction__refuses_inconsistent_or_invalid_factors():
    with pytest.raises(ParameterError, match="1 / auc_ratio"):
        Interaction("x", cl_factor=2.0, effect="", citation="", confidence="", auc_ratio=0.6)
    for bad in (0.0, -1.0, math.inf, math.nan):
        with pytest.raises(ParameterError):
            Interaction("x", cl_factor=bad, effect="", citation="", confidence="")


# --- look-up ---


@pytest.mark.parametrize(
    "name, key",
    [
        ("ketoconazole", "ketoconazole"),
        ("Ketoconazole", "ketoconazole"),
        ("rifampin", "rifampicin"),
        ("St John's wort", "st_johns_wort"),
        ("st-johns-wort", "st_johns_wort"),
        ("EIAED", "enzyme_inducing_antiepileptics"),
    ],
)
def test_get_interaction__names_and_aliases(name, key):
    assert get_interaction(name) is INTERACTIONS[key]


@pytest.mark.parametrize("name", ["grapefruit", "", "keto", 3])
def test_get_interaction__miss_lists_known_names(name):
    with pytest.raises(ParameterError) as info:
        get_interaction(name)
    message = str(info.value)
    assert "unknown interaction" in message
    assert ", ".join(sorted(INTERACTIONS)) in message


# --- periods: factors in force on [start, end), overlapping factors multiply ---


def _reference_factor(periods, t):
    """Scalar reference: loop over periods, multiply the factors whose half-open interval holds t."""
    product = 1.0
    for start, end, factor in periods:
        if start <= t < end:
            product *= factor
    return product


def test_cl_factor_at__docstring_example_and_boundaries():
    periods = [(0.0, 48.0, 2.0), (24.0, 72.0, 1.5)]
    times = [-1.0, 0.0, 23.999, 24.0, 47.999, 48.0, 71.999, 72.0, 1e6]
    assert cl_factor_at(periods, times).tolist() == [1.0, 2.0, 2.0, 3.0, 3.0, 1.5, 1.5, 1.0, 1.0]


def test_cl_factor_at__no_periods_is_one_and_shape_is_kept():
    times = np.arange(12.0).reshape(3, 4)
    result = cl_factor_at([], times)
    assert result.shape == (3, 4) and np.all(result == 1.0) and result.dtype == float
    assert cl_factor_at([(0.0, 10.0, 2.0)], 5.0).shape == ()


def test_cl_factor_at__open_ended_and_real_interactions():
    rif = get_interaction("rifampicin").cl_factor
    keto = get_interaction("ketoconazole").cl_factor
    periods = [(24.0 * 10, math.inf, rif), (24.0 * 20, 24.0 * 25, keto)]
    t = np.array([0.0, 240.0, 480.0, 600.0, 1e5])
    assert cl_factor_at(periods, t) == pytest.approx([1.0, rif, rif * keto, rif, rif], rel=1e-15)


def test_cl_factor_at__matches_reference_on_random_overlaps():
    rng = np.random.default_rng(7)
    for _ in range(50):
        periods = []
        for _ in range(rng.integers(1, 6)):
            start = float(rng.uniform(0, 200))
            periods.append((start, start + float(rng.uniform(1, 100)), float(rng.uniform(0.2, 5.0))))
        times = np.concatenate([rng.uniform(-10, 320, 40), [p[0] for p in periods], [p[1] for p in periods]])
        expected = [_reference_factor(periods, t) for t in times]
        assert cl_factor_at(periods, times) == pytest.approx(expected, rel=1e-14)


def test_cl_factor_at__order_of_periods_does_not_matter():
    periods = [(0.0, 50.0, 3.0), (10.0, 30.0, 0.5), (20.0, 60.0, 1.25)]
    times = np.linspace(-5, 65, 141)
    assert cl_factor_at(periods, times) == pytest.approx(cl_factor_at(periods[::-1], times), rel=1e-15)


@pytest.mark.parametrize(
    "periods, times",
    [
        ([(10.0, 10.0, 2.0)], [0.0]),  # empty interval
        ([(10.0, 5.0, 2.0)], [0.0]),  # end before start
        ([(0.0, 5.0, 0.0)], [0.0]),  # factor 0
        ([(0.0, 5.0, -1.0)], [0.0]),
        ([(0.0, 5.0, math.inf)], [0.0]),
        ([(0.0, 5.0, math.nan)], [0.0]),
        ([(math.nan, 5.0, 2.0)], [0.0]),
        ([(-math.inf, 5.0, 2.0)], [0.0]),
        ([(0.0, 5.0)], [0.0]),  # not three numbers
        ([(0.0, "x", 2.0)], [0.0]),
        ([(0.0, 5.0, 2.0)], [math.nan]),
    ],
)
def test_cl_factor_at__refuses_bad_input(periods, times):
    with pytest.raises(ParameterError):
        cl_factor_at(periods, times)


def test_module__free_of_engine_imports():
    # a data module: only numpy, the standard library and imapk.errors
    tree = ast.parse(Path(interactions.__file__).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add(("." * node.level) + (node.module or ""))
    # data and pure functions: the parameter table (data) is allowed, the engine and the I/O are not
    assert imported <= {"__future__", "math", "dataclasses", "typing", "numpy", ".errors", ".params"}, imported
