"""Compiled kernel of the Markov chain of missed doses (:func:`imapk.processes.adherence.missed_doses`).

Arrays in, arrays out; the chain compares integers only (see :func:`imapk.streams.below`), so the
kernel and the column-by-column numpy loop it replaces give the same misses, bit for bit.
"""

from __future__ import annotations

from ..engine._numba import jit


@jit
def markov_missed(words, below_taken, below_missed, taken, missed):  # pragma: no cover (compiled)
    """Fill `missed` (patients, doses) from the chain: dose j is taken when ``words[i, j]`` is below
    the threshold of the state after dose j - 1 (`below_taken` after a taken dose, `below_missed`
    after a missed one); dose 0 is taken where `taken` is."""
    n, m = missed.shape
    for i in range(n):
        state = taken[i]
        missed[i, 0] = not state
        after_taken = below_taken[i]
        after_missed = below_missed[i]
        for j in range(1, m):
            state = words[i, j] < (after_taken if state else after_missed)
            missed[i, j] = not state
