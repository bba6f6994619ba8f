"""A scenario with random dosing processes exported as a NONMEM-style data set: each patient's own dose
records, and the data set walker (an independent implementation of the same model) gives the
troughs the engine gave on the realised doses."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from imapk.dataset_simulation import simulate_dataset
from imapk.datasets import scenario_to_dataset
from imapk.errors import ScenarioError
from imapk.runner import run_scenario
from imapk.scenario import parse_scenario

TEXT = """
[scenario]
title = "export of realised doses"
seed = 3

[model]
parameter_set = "widmer2006"

[population]
size = 6
iiv = false

[[schedule.phases]]
dose = "400 mg"
days = 60

[adherence]
model = "markov"
p_remain_adherent = 0.85
p_become_adherent = 0.5

[[toxicity]]
label = "rash"
first = { scale = "25 d" }
recurrence = { scale = "25 d" }
hold = { low = "3 d", high = "9 d" }
restart = [ { dose = "200 mg", days = 7 }, { dose = "300 mg", days = 7 } ]
discontinue_after = 3
"""


def test_each_patient_is_written_with_their_own_doses_and_the_walker_agrees():
    scenario = parse_scenario(textwrap.dedent(TEXT), "s.toml")
    ds = run_scenario(scenario)
    data = scenario_to_dataset(scenario)
    given = ds["dose_given"].values
    assert len({tuple(row) for row in given}) > 1  # the patients differ
    for s, subject in enumerate(data.subjects):
        doses = subject.evid == 1
        np.testing.assert_array_equal(subject.amt[doses], given[s][given[s] > 0])
    simulation = simulate_dataset(data, "widmer2006")
    # one trough record per scheduled dose per ID, in ID order: the engine's troughs, to 1e-12 (two exact
    # closed forms grouping the same sums differently over 60 doses)
    predicted = simulation.prediction.reshape(len(data.subjects), -1)
    np.testing.assert_allclose(predicted, ds["trough"].values, rtol=1e-12, atol=1e-9)


def test_a_trough_escalation_cannot_be_written():
    text = textwrap.dedent(TEXT) + '[[policy]]\nkind = "trough_escalation"\nday = 29\nbelow = "gist"\ndose = "600 mg"\n'
    with pytest.raises(ScenarioError) as error:
        scenario_to_dataset(parse_scenario(text, "s.toml"))
    assert error.value.key == "policy"
