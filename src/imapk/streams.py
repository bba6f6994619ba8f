"""Counter-based random streams: every random number is a pure function of (seed, purpose, subject, index).

Each *purpose* (a random effect keyed by parameter name, a covariate, residual error, ...) has its
own Philox key derived from the scenario seed and the purpose's name. Subject i's numbers sit at a
fixed position of that stream (counter = i x block), so subject i is the same whatever the
population size, the chunking or the number of workers, and turning residual error on does not
move the parameters. Draws are vectorised over subjects: no generator object per subject.

Uniforms are built from the top 53 bits of each 64-bit output, shifted by half a unit so that they
lie strictly inside (0, 1), and mapped to standard normals through the normal quantile (``ndtri``).
"""

from __future__ import annotations

import hashlib

import numpy as np

__all__ = ["uniforms", "standard_normals", "purpose_key"]

_OUTPUTS_PER_COUNTER = 4  # Philox-4x64 produces four 64-bit words per counter step


def purpose_key(seed: int, purpose: str) -> np.ndarray:
    """The 128-bit Philox key of one purpose's stream: a hash of the seed and the purpose's name."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    digest = hashlib.sha256(f"imapk:{int(seed)}:{purpose}".encode()).digest()
    return np.frombuffer(digest[:16], dtype=np.uint64).copy()


def uniforms(seed: int, purpose: str, subjects: np.ndarray | range, count: int) -> np.ndarray:
    """Uniform numbers in (0, 1), shape (len(subjects), count).

    Parameters
    ----------
    seed
        The scenario's seed.
    purpose
        Name of the stream, e.g. ``"eta:cl"`` or ``"covariate:weight"``.
    subjects
        Subject indices; consecutive indices are drawn in one call.
    count
        Numbers per subject (subject i always gets the same `count` numbers for the same purpose).
    """
    subjects = np.asarray(subjects, dtype=np.int64)
    if subjects.size == 0 or count == 0:
        return np.empty((subjects.size, count))
    block = -(-count // _OUTPUTS_PER_COUNTER)  # counters per subject
    key = purpose_key(seed, purpose)
    out = np.empty((subjects.size, count))
    # Draw runs of consecutive subjects with one generator each.
    breaks = np.flatnonzero(np.diff(subjects) != 1) + 1
    for run in np.split(np.arange(subjects.size), breaks):
        first = int(subjects[run[0]])
        generator = np.random.Philox(key=key, counter=first * block)
        raw = generator.random_raw(run.size * block * _OUTPUTS_PER_COUNTER)
        words = raw.reshape(run.size, block * _OUTPUTS_PER_COUNTER)[:, :count]
        out[run] = ((words >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0**-53
    return out


def standard_normals(seed: int, purpose: str, subjects: np.ndarray | range, count: int = 1) -> np.ndarray:
    """Standard normal numbers, shape (len(subjects), count), by the quantile of :func:`uniforms`."""
    from scipy.special import ndtri

    return ndtri(uniforms(seed, purpose, subjects, count))
