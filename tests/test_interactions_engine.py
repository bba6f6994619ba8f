"""Interactions applied to a simulation (imapk.interactions.with_interactions): CL/F steps at the
period boundaries, composed with a model's own changes, on both engine paths.

Reference: the one-compartment Bateman propagation written out by hand, day by day, with the
elimination rate of the period in force (an independent closed form)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import imapk
from imapk.interactions import get_interaction, with_interactions
from imapk.params import ParameterChange, ParameterTable, PKParams
from imapk.schedule import Phase, Schedule

CL, V, KA = 14.3, 347.0, 0.609


def bateman_troughs(days: int, factor_by_day) -> np.ndarray:
    """Daily 400 mg troughs with CL x factor_by_day(d) over day d (0-based). [ng/mL]"""
    depot = central = 0.0
    out = []
    for d in range(days):
        out.append(central / V * 1000.0)
        depot += 400.0
        k = CL * factor_by_day(d) / V
        dt = 24.0
        central = central * math.exp(-k * dt) + depot * KA / (KA - k) * (math.exp(-k * dt) - math.exp(-KA * dt))
        depot *= math.exp(-KA * dt)
    return np.array(out)


def test_rifampicin_period__troughs_follow_the_hand_propagation():
    factor = get_interaction("rifampicin").cl_factor
    table = with_interactions(ParameterTable.from_params(PKParams(cl=CL, v=V, ka=KA)), [(240.0, 480.0, factor)])
    assert table.change_times == (240.0, 480.0)
    result = imapk.simulate(Schedule(phases=(Phase(dose=400, days=30),)), table)
    expected = bateman_troughs(30, lambda d: factor if 10 <= d < 20 else 1.0)
    # closed form against closed form: 30 steps of a few ulps each (1e-10, the project's closed-form tolerance)
    np.testing.assert_allclose(result.trough.values[0], expected, rtol=1e-10)
    ode = imapk.simulate(Schedule(phases=(Phase(dose=400, days=30),)), table, method="ode", rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(ode.trough.values[0], expected, rtol=1e-7)


def test_composes_with_a_models_own_changes_and_leaves_the_input_alone():
    own = ParameterTable.from_params(PKParams(cl=CL, v=V, ka=KA), (ParameterChange.at(300.0, cl=10.0, v=300.0),))
    table = with_interactions(own, [(240.0, 480.0, 2.0), (400.0, math.inf, 0.5)])
    assert table.change_times == (240.0, 300.0, 400.0, 480.0)
    cl = table.segments("cl")[0]
    np.testing.assert_allclose(cl, [CL, 2 * CL, 2 * 10.0, 1.0 * 10.0, 0.5 * 10.0])
    np.testing.assert_allclose(table.segments("v")[0], [V, V, 300.0, 300.0, 300.0])
    assert own.change_times == (300.0,) and own.values["cl"][0] == CL


def test_two_compartment_structure_is_kept():
    base = ParameterTable.from_params(PKParams(cl=9.12, v=128.0, ka=0.699, q=24.9, vp=197.0, ktr=15.8, n_transit=5))
    table = with_interactions(base, [(0.0, 100.0, 1.5)])
    assert table.structure == base.structure
    assert table.values["cl"][0] == 9.12 and table.change_values[0]["cl"][0] == pytest.approx(9.12 * 1.5)
