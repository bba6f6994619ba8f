"""Missed doses drawn per patient: independent misses, or runs of misses from a two-state Markov chain.

Two models, as PKPDsim offers them [1]_ (there ``adherence_binomial`` and ``adherence_markov``):

* :class:`IndependentMisses`: each scheduled dose is missed with probability ``p_missed``,
  independently. The number of misses of a patient is binomial; runs of consecutive misses have
  length L with P(L = l) = p^(l-1) (1 - p).
* :class:`MarkovMisses`: whether a dose is taken depends on the previous dose only.
  ``p_remain_adherent`` (PKPDsim's p11) is the probability of taking a dose after a taken one,
  ``p_become_adherent`` (p01) of taking it after a missed one. Runs of misses are geometric with
  mean 1 / p01; the long-run fraction of doses taken is the chain's stationary probability

      pi = p01 / (p01 + 1 - p11).                                                              (1)

  The chain starts ``"adherent"`` (the first dose taken, as PKPDsim does) or ``"stationary"``
  (the first dose taken with probability pi, so every dose has the same chance of being missed).

Either model may take a **per-patient adherence level** a_i (the long-run fraction of doses taken)
drawn from a beta distribution with the given mean and standard deviation (MEMS studies report
such distributions: median adherence 98 %, 26 % of patients at or below 90 %, in Marin 2010 [2]_).
Then patient i misses each dose with probability 1 - a_i (independent), or has p11 chosen so that
(1) gives a_i with the runs' mean length 1 / p01 kept (Markov); a patient whose level is below
p01 / (1 + p01), which no p11 >= 0 reaches with that p01, gets p11 = 0 and p01 = a_i / (1 - a_i):
longer runs of misses, still exactly the drawn level.

References
----------
.. [1] InsightRX, PKPDsim: "new_adherence", R/adherence.R, https://github.com/InsightRX/PKPDsim
.. [2] D. Marin et al., "Adherence is the critical factor for achieving molecular responses in
   patients with chronic myeloid leukemia who achieve complete cytogenetic responses on imatinib,"
   J. Clin. Oncol., vol. 28, no. 14, pp. 2381-2388, 2010. doi:10.1200/JCO.2009.26.3087
"""

from __future__ import annotations

import math
import os
import threading
from dataclasses import dataclass

import numpy as np

from ..errors import ImapkError
from ..streams import below, uniforms, words53

__all__ = ["IndependentMisses", "MarkovMisses", "AdherenceLevel", "LateDoses", "missed_doses", "dose_delays",
           "stationary_adherence"]

#: Stream names (purposes) of the draws; a patient's misses depend only on these, the seed and the patient.
MISS_PURPOSE = "adherence:missed"
LATE_PURPOSE = "adherence:late"
DELAY_PURPOSE = "adherence:delay"
LEVEL_PURPOSE = "adherence:level"
START_PURPOSE = "adherence:start"


def _probability(value, key: str, *, open_low: bool = False, open_high: bool = False) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        ok = (value > 0 if open_low else value >= 0) and (value < 1 if open_high else value <= 1)
    if not ok:
        interval = f"{'(' if open_low else '['}0, 1{')' if open_high else ']'}"
        raise ImapkError("must be a probability", key=key, got=value, expected=f"a number in {interval}")
    return float(value)


@dataclass(frozen=True)
class AdherenceLevel:
    """A per-patient adherence level (long-run fraction of doses taken), beta-distributed.

    Parameters
    ----------
    mean, sd
        Mean and standard deviation of the level over patients (fractions, 0 < mean < 1,
        0 < sd < sqrt(mean (1 - mean))).
    """

    mean: float
    sd: float

    def __post_init__(self):
        _probability(self.mean, "adherence.level.mean", open_low=True, open_high=True)
        limit = math.sqrt(self.mean * (1.0 - self.mean))
        if not (isinstance(self.sd, (int, float)) and not isinstance(self.sd, bool) and 0.0 < self.sd < limit):
            raise ImapkError("a beta distribution's sd must be above 0 and below sqrt(mean (1 - mean))",
                             key="adherence.level.sd", got=self.sd, expected=f"0 < sd < {limit:.4g}")

    @property
    def shape(self) -> tuple[float, float]:
        """The beta distribution's (alpha, beta) from its mean and sd (method of moments)."""
        nu = self.mean * (1.0 - self.mean) / self.sd**2 - 1.0
        return self.mean * nu, (1.0 - self.mean) * nu

    def draw(self, seed: int, subjects) -> np.ndarray:
        """Each patient's level, by the beta quantile of one uniform per patient."""
        from scipy.special import betaincinv

        alpha, beta = self.shape
        return betaincinv(alpha, beta, uniforms(seed, LEVEL_PURPOSE, subjects, 1)[:, 0])


@dataclass(frozen=True)
class IndependentMisses:
    """Each scheduled dose missed with probability `p_missed`, independently (or 1 - the patient's level)."""

    p_missed: float = 0.0
    level: AdherenceLevel | None = None

    def __post_init__(self):
        _probability(self.p_missed, "adherence.p_missed")


@dataclass(frozen=True)
class MarkovMisses:
    """Missed doses in runs: a two-state Markov chain over consecutive scheduled doses.

    Parameters
    ----------
    p_remain_adherent
        P(dose taken | previous dose taken) (PKPDsim's p11).
    p_become_adherent
        P(dose taken | previous dose missed) (p01); runs of misses last 1 / p01 doses on average.
    start
        ``"adherent"`` (the first dose is taken) or ``"stationary"``.
    level
        Optional per-patient adherence level; then `p_remain_adherent` is set per patient (see the
        module docstring) and the value given here is not used.
    """

    p_remain_adherent: float = 1.0
    p_become_adherent: float = 1.0
    start: str = "adherent"
    level: AdherenceLevel | None = None

    def __post_init__(self):
        _probability(self.p_remain_adherent, "adherence.p_remain_adherent")
        _probability(self.p_become_adherent, "adherence.p_become_adherent", open_low=True)
        if self.start not in ("adherent", "stationary"):
            raise ImapkError("unknown start of the chain", key="adherence.start", got=self.start,
                             expected="'adherent' or 'stationary'")


def stationary_adherence(p_remain_adherent, p_become_adherent):
    """Long-run fraction of doses taken, (1) of the module docstring."""
    p11 = np.asarray(p_remain_adherent, dtype=float)
    p01 = np.asarray(p_become_adherent, dtype=float)
    return p01 / (p01 + 1.0 - p11)


def _chain_per_patient(model: MarkovMisses, levels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-patient (p11, p01) giving each patient's stationary level `levels`, runs' mean kept where possible."""
    p01 = np.full(levels.shape, model.p_become_adherent)
    with np.errstate(divide="ignore", invalid="ignore"):
        p11 = 1.0 - p01 * (1.0 - levels) / levels
        low = p11 < 0.0
        p01 = np.where(low, levels / (1.0 - levels), p01)
    return np.where(low, 0.0, p11), p01


def missed_doses(model, seed: int, subjects, n_doses: int) -> np.ndarray:
    """Which scheduled doses each patient misses: a bool array (patients, doses).

    Parameters
    ----------
    model
        :class:`IndependentMisses` or :class:`MarkovMisses`.
    seed
        The scenario's seed.
    subjects
        Patient indices (patient i's misses depend on i only, not on who else is drawn).
    n_doses
        Scheduled doses per patient (held doses included: a held dose is not "missed", but the
        chain runs over the scheduled grid, so a patient's misses do not depend on the holds).
    """
    subjects = np.asarray(subjects, dtype=np.int64)
    # u < p is decided on the integers behind the uniforms: u = (w + 0.5) 2^-53 < p exactly when
    # w < below(p) (imapk.streams.below), so no uniform is formed. The words are drawn for a block
    # of patients at a time (each patient's are the same whatever the block), to keep memory small.
    rows = max(1, _BLOCK_WORDS // max(n_doses, 1))
    levels = None if model.level is None else model.level.draw(seed, subjects)
    missed = np.empty((subjects.size, n_doses), dtype=bool)
    if isinstance(model, IndependentMisses):
        limit = below(model.p_missed if levels is None else (1.0 - levels)[:, None])

        def independent(lo: int) -> None:
            words = words53(seed, MISS_PURPOSE, subjects[lo:lo + rows], n_doses)
            np.less(words, limit if levels is None else limit[lo:lo + rows], out=missed[lo:lo + rows])

        _by_blocks(independent, subjects.size, rows)
        return missed
    if not isinstance(model, MarkovMisses):
        raise ImapkError("unknown adherence model", key="adherence", got=type(model).__name__,
                         expected="IndependentMisses or MarkovMisses")
    if levels is None:
        p11 = np.full(subjects.size, model.p_remain_adherent)
        p01 = np.full(subjects.size, model.p_become_adherent)
    else:
        p11, p01 = _chain_per_patient(model, levels)
    if n_doses == 0:
        return missed
    if model.start == "adherent":
        taken = np.ones(subjects.size, dtype=bool)
    else:
        first = uniforms(seed, START_PURPOSE, subjects, 1)[:, 0]
        taken = first < stationary_adherence(p11, p01)
    after_taken, after_missed = below(p11), below(p01)
    compiled = _compiled(missed.size)

    def chain(lo: int) -> None:
        words = words53(seed, MISS_PURPOSE, subjects[lo:lo + rows], n_doses)
        block = slice(lo, lo + rows)
        _chain(words, after_taken[block], after_missed[block], taken[block], missed[block], compiled)

    _by_blocks(chain, subjects.size, rows)
    return missed


#: Random words drawn at a time for the misses (8 MiB: a block of patients' words stays in cache).
_BLOCK_WORDS = 1 << 20


def _by_blocks(work, n: int, rows: int) -> None:
    """``work(lo)`` for the blocks of `rows` patients starting at lo = 0, rows, 2 rows, ... < n; on two
    threads when there are several blocks and this is the main thread (drawing the words and the
    compiled chain release the GIL; each block writes its own rows, so the result is the same)."""
    starts = range(0, n, rows)
    if len(starts) < 2 or threading.current_thread() is not threading.main_thread() or (os.cpu_count() or 1) < 2:
        for lo in starts:
            work(lo)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(work, starts))


#: Doses (patients x doses) from which the chain runs compiled when numba is loaded already, and
#: from which it imports numba: about 0.5 s, more than the numpy loop over 100 000 patients x 365
#: doses costs, but a population that large is simulated next, which imports numba anyway.
_COMPILED_FROM = 100_000
_IMPORT_FROM = 10_000_000


def _compiled(doses: int) -> bool:
    """Whether the chain over `doses` (patients x doses) runs compiled."""
    from ..engine._numba import numba_loaded

    return doses >= _IMPORT_FROM or (doses >= _COMPILED_FROM and numba_loaded())


def _chain(words, below_taken, below_missed, taken, missed, compiled: bool) -> None:
    """The Markov chain over the doses: compiled
    (:func:`~imapk.processes._adherence_kernels.markov_missed`), or the same integer comparisons
    dose by dose for every patient at once."""
    if compiled:
        from ._adherence_kernels import markov_missed

        markov_missed(words, below_taken, below_missed, taken, missed)
        return
    missed[:, 0] = ~taken
    for j in range(1, missed.shape[1]):
        taken = words[:, j] < np.where(taken, below_taken, below_missed)
        missed[:, j] = ~taken


@dataclass(frozen=True)
class LateDoses:
    """Doses taken late: each dose taken is late with probability `probability`, independently, by a
    delay uniform over [`low`, `high`) hours after its scheduled time.

    The engine simulates a late dose exactly (its input starts at the scheduled time plus the delay);
    troughs stay at the scheduled times. `high` must be shorter than every dosing interval of the
    schedule (a dose is late, not moved past the next one): checked when the doses are realised.
    """

    probability: float
    low: float
    high: float

    def __post_init__(self):
        _probability(self.probability, "adherence.late.probability")
        for key, value in (("low", self.low), ("high", self.high)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ImapkError("must be a delay >= 0 h", key=f"adherence.late.{key}", got=value,
                                 expected="a number of hours >= 0")
        if not self.high > self.low:
            raise ImapkError("must be above `low`", key="adherence.late.high", got=self.high,
                             expected=f"a delay > {self.low:g} h")


def dose_delays(model: LateDoses, seed: int, subjects, n_doses: int) -> np.ndarray:
    """Each patient's delay [h] of each scheduled dose, (patients, doses): 0 for a dose on time.

    Two streams, a patient's lateness (one uniform per dose) and delays (one per dose), both drawn
    for every scheduled dose, so a patient's delays do not depend on which doses are given.
    """
    subjects = np.asarray(subjects, dtype=np.int64)
    late = uniforms(seed, LATE_PURPOSE, subjects, n_doses) < model.probability
    delay = model.low + (model.high - model.low) * uniforms(seed, DELAY_PURPOSE, subjects, n_doses)
    return np.where(late, delay, 0.0)
