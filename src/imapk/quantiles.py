"""Quantiles over subjects, computed fast and bit-identical to ``numpy.quantile`` ('linear').

``numpy.quantile(x, q, axis=0)`` on a (subjects, doses) array partitions every column: about 80 ms
for 10 000 subjects x 365 doses. Here a compiled kernel finds only the order statistics the
quantiles need, column by column (a histogram pass narrows each rank to one bin, then a selection
inside it), and numpy's own interpolation rule is applied to them, operation for operation, so the
result equals numpy's to the bit (tested), in about a fifth of the time.
"""

from __future__ import annotations

import numpy as np

__all__ = ["order_statistics", "quantile_plan", "lerp", "column_quantiles"]

def _order_statistics_py(block, first, last, ranks, nbins, out, all_nan):
    """Exact order statistics of columns ``first <= j < last`` of `block` (n, d) at the sorted `ranks`, into `out` (d, r).

    A column with a NaN gets NaN (as ``numpy.quantile``); `all_nan` (d,) flags the columns that are
    all NaN. Per column: min and max, a histogram of `nbins` equal bins (a monotone map, so bin b
    holds exactly the values of ranks start[b] to start[b+1] - 1), then only the bins holding a wanted
    rank are gathered and sorted: O(n) instead of numpy's repeated partitions. Columns are copied
    out of the row-major block 8 at a time (one pass over each cache line, 8 columns of scratch),
    their min, max and NaNs found on the way.
    """
    n = block.shape[0]
    r = ranks.shape[0]
    group = 8
    columns = np.empty((group, n))
    low = np.empty(group)
    high = np.empty(group)
    nans = np.zeros(group, np.int64)
    scratch = np.empty(n)
    start = np.zeros(nbins + 1, np.int64)
    fill = np.zeros(nbins, np.int64)
    wanted = np.zeros(nbins, np.bool_)
    bins = np.zeros(r, np.int64)
    for j0 in range(first, last, group):
        width = min(group, last - j0)
        for g in range(width):
            low[g] = np.inf
            high[g] = -np.inf
            nans[g] = 0
        for i in range(n):
            for g in range(width):
                x = block[i, j0 + g]
                columns[g, i] = x
                if x < low[g]:
                    low[g] = x
                if x > high[g]:
                    high[g] = x
                if x != x:
                    nans[g] += 1
        for g in range(width):
            j = j0 + g
            column = columns[g]
            lo = low[g]
            hi = high[g]
            bad = nans[g] > 0
            all_nan[j] = nans[g] == n
            if bad:
                for k in range(r):
                    out[j, k] = np.nan
                continue
            if lo == hi:
                for k in range(r):
                    out[j, k] = lo
                continue
            scale = nbins / (hi - lo)
            if not (np.isfinite(scale) and scale > 0.0):  # a range beyond float64 (or denormal): sort it all
                scratch[:] = np.sort(column)
                for k in range(r):
                    out[j, k] = scratch[ranks[k]]
                continue
            start[:] = 0
            for i in range(n):
                b = int((column[i] - lo) * scale)
                if b >= nbins:
                    b = nbins - 1
                start[b + 1] += 1
            for b in range(nbins):
                start[b + 1] += start[b]
            for k in range(r):
                b = np.searchsorted(start, ranks[k], side="right") - 1
                bins[k] = b
                wanted[b] = True
                fill[b] = start[b]
            for i in range(n):
                x = column[i]
                b = int((x - lo) * scale)
                if b >= nbins:
                    b = nbins - 1
                if wanted[b]:
                    scratch[fill[b]] = x
                    fill[b] += 1
            for k in range(r):
                b = bins[k]
                if wanted[b]:
                    scratch[start[b]:start[b + 1]].sort()
                    wanted[b] = False
            for k in range(r):
                out[j, k] = scratch[ranks[k]]


_ORDER_STATISTICS = []


def order_statistics(block: np.ndarray, ranks: np.ndarray, columns: tuple[int, int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Compiled `_order_statistics_py` (numba, on first use): (n, d) block -> ((d, len(ranks)), all-NaN (d,)).

    With `columns` = (first, last), only those columns are computed (the other rows of the result
    are left unset): threads share one C-contiguous block without copying it.
    """
    if not _ORDER_STATISTICS:
        from .engine._numba import jit

        _ORDER_STATISTICS.append(jit(_order_statistics_py))
    block = np.ascontiguousarray(block, dtype=float)
    n, d = block.shape
    first, last = (0, d) if columns is None else columns
    out = np.empty((d, ranks.size))
    all_nan = np.zeros(d, dtype=bool)
    nbins = max(1, min(n // 8, 1 << 16))
    _ORDER_STATISTICS[0](block, first, last, ranks.astype(np.int64), nbins, out, all_nan)
    return out, all_nan


def quantile_plan(n: int, quantiles) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """numpy's 'linear' quantile as order statistics: (ranks, index of the lower and upper one, gamma).

    Mirrors ``numpy.quantile`` (virtual index (n - 1) q, floor, lerp with the flip at gamma 0.5) so
    that the streamed quantiles are bit-identical to numpy's on the whole column.
    """
    virtual = (n - 1) * np.asarray(quantiles, dtype=float)
    previous = np.floor(virtual)
    above = virtual >= n - 1
    previous_rank = np.where(above, n - 1, previous).astype(np.int64)
    next_rank = np.where(above, n - 1, previous + 1).astype(np.int64)
    gamma = virtual - np.where(above, -1.0, previous)
    ranks = np.unique(np.concatenate([previous_rank, next_rank]))
    return ranks, np.searchsorted(ranks, previous_rank), np.searchsorted(ranks, next_rank), gamma


def lerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """numpy's quantile interpolation, operation for operation."""
    diff = b - a
    result = np.add(a, diff * t)
    np.subtract(b, diff * (1 - t), out=result, where=t >= 0.5, casting="unsafe")
    return result


#: Values below which column_quantiles runs on the calling thread only.
MIN_PARALLEL_VALUES = 500_000
#: Values below which numpy itself is used: for small arrays (one subject) loading the compiled
#: kernel costs more than it saves (the result is the same bits either way).
MIN_COMPILED_VALUES = 50_000


def column_quantiles(values: np.ndarray, quantiles) -> np.ndarray:
    """``numpy.quantile(values, quantiles, axis=0)`` for a 2-D array, bit for bit, faster. Shape (q, columns).

    Large arrays are split into blocks of columns run on threads (the kernel releases the GIL); each
    column is computed alone, so the split does not change a bit.
    """
    from .engine._numba import parallel_threads, run_blocks

    values = np.asarray(values, dtype=float)
    if values.size < MIN_COMPILED_VALUES:
        return np.quantile(values, np.asarray(quantiles, dtype=float), axis=0)
    ranks, lower, upper, gamma = quantile_plan(values.shape[0], quantiles)
    n_columns = values.shape[1]
    threads = min(parallel_threads(), n_columns) if values.size >= MIN_PARALLEL_VALUES else 1
    values = np.ascontiguousarray(values)
    parts = run_blocks(lambda lo, hi: order_statistics(values, ranks, (lo, hi))[0][lo:hi], n_columns, threads)
    stats = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=0)
    return lerp(stats[:, lower], stats[:, upper], np.asarray(gamma)[None, :]).T
