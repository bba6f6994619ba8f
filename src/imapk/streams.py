"""Counter-based random streams: every random number is a pure function of (seed, purpose, subject, index).

Each *purpose* (a random effect keyed by parameter name, a covariate, residual error, ...) has its
own Philox key derived from the scenario seed and the purpose's name. Subject i's numbers sit at a
fixed position of that stream (counter = i x block), so subject i is the same whatever the
population size, the chunking or the number of workers, and turning residual error on does not
move the parameters. Draws are vectorised over subjects: no generator object per subject.

Uniforms are built from the top 53 bits of each 64-bit output, shifted by half a unit so that they
lie inside (0, 1] (the largest word rounds to 1.0, once in 2^53 draws), and mapped to standard
normals through the normal quantile (``ndtri``).
"""

from __future__ import annotations

import hashlib

import numpy as np

__all__ = ["uniforms", "standard_normals", "purpose_key", "words53", "to_uniforms", "below"]

_OUTPUTS_PER_COUNTER = 4  # Philox-4x64 produces four 64-bit words per counter step


def purpose_key(seed: int, purpose: str) -> np.ndarray:
    """The 128-bit Philox key of one purpose's stream: a hash of the seed and the purpose's name."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    digest = hashlib.sha256(f"imapk:{int(seed)}:{purpose}".encode()).digest()
    return np.frombuffer(digest[:16], dtype=np.uint64).copy()


def words53(seed: int, purpose: str, subjects: np.ndarray | range, count: int) -> np.ndarray:
    """The 53-bit integers behind :func:`uniforms`, shape (len(subjects), count), dtype uint64.

    ``uniforms(...) == (words53(...) + 0.5) * 2**-53`` in float64, element for element; callers that only
    compare uniforms with a probability compare these integers with :func:`below` instead (no floats).
    The result may be a strided view of a larger array.
    """
    subjects = np.asarray(subjects, dtype=np.int64)
    if subjects.size == 0 or count == 0:
        return np.empty((subjects.size, count), dtype=np.uint64)
    block = -(-count // _OUTPUTS_PER_COUNTER)  # counters per subject
    key = purpose_key(seed, purpose)
    shift = np.uint64(11)
    # Draw runs of consecutive subjects with one generator each.
    breaks = np.flatnonzero(np.diff(subjects) != 1) + 1
    if breaks.size == 0:  # one run: shift the generator's words in place, no copy
        raw = np.random.Philox(key=key, counter=int(subjects[0]) * block).random_raw(subjects.size * block * 4)
        np.right_shift(raw, shift, out=raw)
        return raw.reshape(subjects.size, block * _OUTPUTS_PER_COUNTER)[:, :count]
    out = np.empty((subjects.size, count), dtype=np.uint64)
    for run in np.split(np.arange(subjects.size), breaks):
        generator = np.random.Philox(key=key, counter=int(subjects[run[0]]) * block)
        raw = generator.random_raw(run.size * block * _OUTPUTS_PER_COUNTER)
        out[run] = raw.reshape(run.size, block * _OUTPUTS_PER_COUNTER)[:, :count] >> shift
    return out


def to_uniforms(words: np.ndarray) -> np.ndarray:
    """Uniforms (w + 0.5) 2^-53 of 53-bit integers `words` (:func:`words53`), in float64."""
    out = np.empty(words.shape)
    np.add(words, 0.5, out=out)  # w converted to float64 (exact below 2^53), then + 0.5 rounded as ever
    out *= 2.0**-53  # exact: a power of two
    return out


def uniforms(seed: int, purpose: str, subjects: np.ndarray | range, count: int) -> np.ndarray:
    """Uniform numbers in (0, 1], shape (len(subjects), count).

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

    Notes
    -----
    u = (w + 0.5) 2^-53 for the top 53 bits w of a 64-bit word. Above 2^52 the sum w + 0.5 is a tie
    that float64 rounds to the even neighbour, so u is 1.0 (exactly) for w = 2^53 - 1, one word in 2^53.
    """
    return to_uniforms(words53(seed, purpose, subjects, count))


def below(p) -> np.ndarray:
    """The number T(p) of 53-bit integers w with (w + 0.5) 2^-53 < p, in float64 as :func:`to_uniforms`
    computes it: ``to_uniforms(w) < p`` is exactly ``w < below(p)`` for every w in [0, 2^53).

    Why: u(w) = fl(w + 0.5) 2^-53 never decreases with w (the conversion and the rounding of a sum
    are monotone), so the w with u(w) < p are a prefix 0, 1, ..., T - 1 of the integers. Writing
    q = p 2^53 (exact: a power of two), u(w) 2^53 = fl(w + 0.5) lies in [w, w + 1] (w + 0.5 exactly
    below 2^52, rounded to w or w + 1 above), so every w < q - 1 is in the prefix and no w >= q is:
    T is between floor(q) - 1 and ceil(q), found by stepping up from floor(q) - 1 while u(w) < p,
    u(w) computed with the same float operations as :func:`to_uniforms` (at most three steps). A NaN
    p gives T = 0 (u < NaN is false); p <= 2^-54 gives 0, p > 1 gives 2^53 (every w).

    Parameters
    ----------
    p
        Probabilities (any shape; any float, NaN and infinities included).

    Returns
    -------
    np.ndarray
        T(p), uint64, the shape of `p`.
    """
    p = np.asarray(p, dtype=np.float64)
    top = 2.0**53
    q = np.where(np.isnan(p), -1.0, np.clip(p, -1.0, 2.0) * top)
    t = np.clip(np.floor(q) - 1.0, 0.0, top).astype(np.uint64)
    limit = np.uint64(2**53)
    while True:
        step = (t < limit) & (to_uniforms(np.minimum(t, limit - np.uint64(1))) < p)
        if not step.any():
            return t
        t = t + step.astype(np.uint64)


def standard_normals(seed: int, purpose: str, subjects: np.ndarray | range, count: int = 1) -> np.ndarray:
    """Standard normal numbers, shape (len(subjects), count), by the quantile of :func:`uniforms`."""
    from scipy.special import ndtri

    return ndtri(uniforms(seed, purpose, subjects, count))
