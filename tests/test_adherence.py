"""Missed doses drawn per patient (imapk.processes.adherence) against the models' own laws.

Every statistical check compares an observed mean with its expectation within 4 standard errors,
the standard error estimated from per-patient values (patients are independent, doses within a
patient are not for the Markov chain): a correct sampler fails such a check about once in 16 000
runs, and the seeds are fixed, so the tests are deterministic.
"""

from __future__ import annotations

import numpy as np
import pytest

from imapk.errors import ImapkError
from imapk.processes.adherence import (
    AdherenceLevel,
    IndependentMisses,
    MarkovMisses,
    missed_doses,
    stationary_adherence,
)

SEED = 20101001


def runs_of_misses(missed: np.ndarray) -> np.ndarray:
    """Lengths of the runs of consecutive misses that start after a taken dose in the first half of
    each row. Choosing runs by where they start (not by whether they end inside the row, which
    favours short runs) leaves their length distribution unbiased; a run that starts in the first
    half is cut by the row's end with probability below P(L > n/2), negligible here."""
    lengths = []
    for row in missed:
        padded = np.concatenate(([False], row, [False])).astype(np.int8)
        edges = np.diff(padded)
        starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
        chosen = (starts > 0) & (starts < row.size // 2)
        lengths.append((ends - starts)[chosen])
    return np.concatenate(lengths)


def within(observed_per_patient: np.ndarray, expected: float, k: float = 4.0) -> None:
    mean = observed_per_patient.mean()
    se = observed_per_patient.std(ddof=1) / np.sqrt(observed_per_patient.size)
    assert abs(mean - expected) < k * se, (mean, expected, se)


def test_independent_misses_have_the_stated_rate_and_geometric_runs():
    p = 0.12
    missed = missed_doses(IndependentMisses(p), SEED, range(4000), 200)
    within(missed.mean(axis=1), p)
    runs = runs_of_misses(missed)
    within(runs.astype(float), 1.0 / (1.0 - p))  # geometric: P(L = l) = p^(l-1) (1 - p)
    within((runs == 1).astype(float), 1.0 - p)


@pytest.mark.parametrize("p11, p01", [(0.95, 0.6), (0.8, 0.3)])
def test_markov_misses_have_the_stationary_rate_and_runs_of_mean_one_over_p01(p11, p01):
    missed = missed_doses(MarkovMisses(p11, p01, start="stationary"), SEED, range(3000), 300)
    within(missed.mean(axis=1), 1.0 - float(stationary_adherence(p11, p01)))
    runs = runs_of_misses(missed)
    within(runs.astype(float), 1.0 / p01)
    within((runs == 1).astype(float), p01)
    # A miss after a taken dose is Bernoulli(1 - p11) given the past (the Markov property), so the
    # pooled count over all such doses is binomial: SE sqrt(p (1 - p) / count).
    after_taken = ~missed[:, :-1]
    count = after_taken.sum()
    rate = (after_taken & missed[:, 1:]).sum() / count
    assert abs(rate - (1.0 - p11)) < 4.0 * np.sqrt(p11 * (1.0 - p11) / count)


def test_an_adherent_start_takes_the_first_dose_and_the_stationary_start_does_not_always():
    adherent = missed_doses(MarkovMisses(0.5, 0.5), SEED, range(2000), 3)
    assert not adherent[:, 0].any()
    stationary = missed_doses(MarkovMisses(0.5, 0.5, start="stationary"), SEED, range(2000), 3)
    within(stationary[:, 0].astype(float), 0.5)


def test_draws_depend_only_on_seed_and_patient():
    model = MarkovMisses(0.9, 0.4, start="stationary", level=AdherenceLevel(0.9, 0.08))
    everyone = missed_doses(model, SEED, range(500), 60)
    np.testing.assert_array_equal(missed_doses(model, SEED, range(200, 260), 60), everyone[200:260])
    np.testing.assert_array_equal(missed_doses(model, SEED, [7, 3, 499], 60), everyone[[7, 3, 499]])
    assert not np.array_equal(missed_doses(model, SEED + 1, range(500), 60), everyone)


@pytest.mark.parametrize("model", [IndependentMisses(0.2), MarkovMisses(0.9, 0.4, level=AdherenceLevel(0.9, 0.08))],
                         ids=["independent", "markov"])
def test_patients_drawn_in_blocks_on_threads_are_each_drawn_alone(model, monkeypatch):
    import importlib

    adherence = importlib.import_module("imapk.processes.adherence")
    monkeypatch.setattr(adherence, "_BLOCK_WORDS", 120)  # blocks of 2 patients of 60 doses: 25 blocks, 2 threads
    everyone = missed_doses(model, SEED, range(50), 60)
    alone = np.vstack([missed_doses(model, SEED, [i], 60) for i in range(50)])
    np.testing.assert_array_equal(everyone, alone)


def test_per_patient_levels_follow_the_beta_distribution():
    level = AdherenceLevel(mean=0.9, sd=0.1)
    drawn = level.draw(SEED, range(20000))
    within(drawn, 0.9)
    within((drawn - 0.9) ** 2, 0.01)  # the variance is sd^2
    alpha, beta = level.shape
    assert alpha / (alpha + beta) == pytest.approx(0.9, rel=1e-12)


@pytest.mark.parametrize("model", [
    IndependentMisses(level=AdherenceLevel(0.8, 0.15)),
    MarkovMisses(0.0, 0.5, start="stationary", level=AdherenceLevel(0.6, 0.25)),
])
def test_each_patient_takes_their_own_level_of_doses(model):
    """Over 20 000 doses a patient's fraction taken is their level to within 4 SE of a binomial
    (an upper bound for the Markov chain's, widened by its autocorrelation: checked by sd below)."""
    n_doses = 20000
    levels = model.level.draw(SEED, range(40))
    taken = 1.0 - missed_doses(model, SEED, range(40), n_doses).mean(axis=1)
    # Markov: var of the mean ~ a (1 - a) (1 + rho) / ((1 - rho) n), rho = p11 - p01 (the transition
    # matrix's second eigenvalue, the lag-1 autocorrelation of "taken").
    if isinstance(model, MarkovMisses):
        from imapk.processes.adherence import _chain_per_patient

        p11, p01 = _chain_per_patient(model, levels)
        rho = p11 - p01
        factor = (1.0 + rho) / (1.0 - rho)
        assert np.any(p11 == 0.0)  # some patients are below p01 / (1 + p01) = 1/3 and get longer runs
    else:
        factor = 1.0
    sd = np.sqrt(levels * (1.0 - levels) * factor / n_doses)
    assert np.all(np.abs(taken - levels) < 4.0 * sd + 1e-12)


def test_a_patient_below_the_chains_floor_keeps_their_level():
    """p01 = 0.5 reaches at lowest 1/3 with p11 = 0; a level of 0.2 needs p01 = 0.25 (runs of 4)."""
    from imapk.processes.adherence import _chain_per_patient

    p11, p01 = _chain_per_patient(MarkovMisses(0.9, 0.5), np.array([0.2, 0.8]))
    assert p11[0] == 0.0 and p01[0] == pytest.approx(0.25)
    assert p01[1] == 0.5 and p11[1] == pytest.approx(1.0 - 0.5 * 0.2 / 0.8)
    np.testing.assert_allclose(stationary_adherence(p11, p01), [0.2, 0.8], rtol=1e-14)


@pytest.mark.parametrize("make, key", [
    (lambda: IndependentMisses(1.5), "adherence.p_missed"),
    (lambda: MarkovMisses(0.9, 0.0), "adherence.p_become_adherent"),
    (lambda: MarkovMisses(-0.1, 0.5), "adherence.p_remain_adherent"),
    (lambda: MarkovMisses(0.9, 0.5, start="first"), "adherence.start"),
    (lambda: AdherenceLevel(0.9, 0.5), "adherence.level.sd"),
    (lambda: AdherenceLevel(1.0, 0.1), "adherence.level.mean"),
])
def test_bad_parameters_are_refused_naming_the_key(make, key):
    with pytest.raises(ImapkError) as error:
        make()
    assert error.value.key == key


def test_zero_doses_and_certain_adherence():
    assert missed_doses(MarkovMisses(0.9, 0.5), SEED, range(3), 0).shape == (3, 0)
    assert not missed_doses(IndependentMisses(0.0), SEED, range(50), 100).any()
    assert not missed_doses(MarkovMisses(1.0, 1.0, start="stationary"), SEED, range(50), 100).any()
    assert missed_doses(IndependentMisses(1.0), SEED, range(5), 10).all()
