"""Quantiles over subjects, computed fast and bit-identical to ``numpy.quantile`` ('linear').

``numpy.quantile(x, q, axis=0)`` on a (subjects, doses) array partitions every column. Here a
compiled kernel finds only the order statistics the quantiles need (a histogram pass over the rows
narrows each rank to one bin, then a selection inside it), and numpy's own interpolation rule is
applied to them, operation for operation, so the result equals numpy's to the bit (tested). For
10 000 subjects x 365 doses of log-normal troughs, one thread: about 10 ms, against 27 ms for the
column-by-column histogram this replaced and 37 ms for ``numpy.quantile``; equal-width bins are
used for light-tailed columns and bins on a nearly logarithmic scale for positive skewed ones, so
heavy tails cost no more than normal data.
"""

from __future__ import annotations

import numpy as np

__all__ = ["order_statistics", "quantile_plan", "lerp", "column_quantiles"]


def _order_statistics_py(block, first, last, ranks, nbins, width, count, out, all_nan):
    """Exact order statistics of columns ``first <= j < last`` of `block` (n, d) at the sorted `ranks`, into `out` (d, r).

    A column with a NaN gets NaN (as ``numpy.quantile``); `all_nan` (d,) flags the columns that are
    all NaN. `count` is zeros, ``width * (nbins + 3)`` of an integer type that holds `n` (uint16
    when it can: the counts are the hot table). The block is read row by row, `width` columns at a
    time (whole rows of many columns:
    reading it column by column strides across pages and costs more than everything else), in two
    passes:

    1. every value gets a bin key, from a monotone map: below the column's histogram range -> 0,
       `nbins` equal bins over the range -> 1..nbins, above it (and +inf) -> nbins + 1, NaN ->
       nbins + 2. The range is the min and max of 128 evenly spaced rows, so a heavy tail does not
       stretch the bins (its values fall in the two outer bins), and no exact min/max pass is
       needed. Keys are kept (uint16) and counted per column.
    2. the cumulative counts give the bin of every wanted rank (the map is monotone, so bin b holds
       exactly the ranks start[b] to start[b+1] - 1); the keys are scanned again (vectorised
       compares against the few wanted bins) and only the values of those bins are gathered.

    Each wanted bin is then sorted (when large: answered from the copies of its smallest value when
    they reach the wanted ranks, e.g. zeros, or else partitioned, O(size) whatever the values) and
    the ranks read off. Positive columns that span more than an octave are binned on the bit
    pattern of the values (monotone for x >= 0 and nearly logarithmic: equal bins per octave), so
    log-normal and heavier-tailed columns fill their bins as evenly as light-tailed ones do.
    """
    n = block.shape[0]
    r = ranks.shape[0]
    if n == 0:
        for j in range(first, last):
            all_nan[j] = True
            for k in range(r):
                out[j, k] = np.nan
        return
    top = nbins + 1  # the bin above the range; nbins + 2 is NaN's
    stride = nbins + 3
    width = max(1, min(width, last - first, count.size // stride))
    samples = min(n, 128)
    cursor = np.full(width * stride, -1, np.int64)  # write position of a wanted bin's next value
    keys = np.empty((n, width), np.uint16)
    wanted = np.full((r, width), 65535, np.uint16)  # the distinct wanted bins of each column
    hit = np.zeros(8 * ((width + 7) // 8), np.uint8)
    hit_words = hit.view(np.uint64)
    low = np.empty(width)
    origin = np.empty(width)
    scale = np.empty(width)
    logarithmic = np.zeros(width, np.bool_)
    bits = block.view(np.int64)
    one = np.empty(1)
    one_bits = one.view(np.int64)
    bins = np.zeros((width, r), np.int64)
    before = np.zeros((width, r), np.int64)
    base = np.zeros((width, r), np.int64)
    size = np.zeros((width, r), np.int64)
    for j0 in range(first, last, width):
        w = min(width, last - j0)
        for g in range(w):
            low[g] = np.inf
            scale[g] = -np.inf  # the sample's max, for now
        for s in range(samples):
            row = block[(s * (n - 1)) // max(samples - 1, 1), j0:j0 + w]
            for g in range(w):
                x = row[g]
                if x < low[g] and x > -np.inf:
                    low[g] = x
                if x > scale[g] and x < np.inf:
                    scale[g] = x
        for g in range(w):
            lo = low[g]
            hi = scale[g]
            if not lo <= hi:  # no finite value in the sample
                lo = 0.0
                hi = 0.0
            low[g] = lo
            # Positive values spread over more than an octave are binned by their bit pattern: a
            # monotone, nearly logarithmic scale (equal bins per octave), suited to log-normal data.
            logarithmic[g] = lo > 0.0 and hi > 2.0 * lo
            if logarithmic[g]:
                one[0] = lo
                lo = float(one_bits[0])
                one[0] = hi
                hi = float(one_bits[0])
            origin[g] = lo
            sc = nbins / (hi - lo) if hi > lo else 0.0
            scale[g] = sc if sc < np.inf else 0.0  # a range beyond float64: one bin (still monotone)
        # Pass 1: keys and counts.
        for i in range(n):
            row = block[i, j0:j0 + w]
            row_bits = bits[i, j0:j0 + w]
            key = keys[i]
            for g in range(w):
                x = row[g]
                y = float(row_bits[g]) if logarithmic[g] else x
                f = (y - origin[g]) * scale[g]
                if not f < nbins:
                    f = nbins
                if x < low[g]:
                    f = -1.0
                if x != x:
                    f = nbins + 1.0
                key[g] = int(f) + 1
            for g in range(w):
                count[g * stride + key[g]] += 1
        # The bins of the wanted ranks, and where their values go.
        total = 0
        depth = 1  # rows of `wanted` in use
        for g in range(w):
            j = j0 + g
            offset = g * stride
            nan_count = count[offset + top + 1]
            all_nan[j] = nan_count == n
            if nan_count > 0:
                for k in range(r):
                    out[j, k] = np.nan
                    bins[g, k] = -1
            else:
                b = 0
                below = 0
                distinct = 0
                for k in range(r):
                    while below + count[offset + b] <= ranks[k]:
                        below += count[offset + b]
                        b += 1
                    bins[g, k] = b
                    before[g, k] = below
                    size[g, k] = count[offset + b]
                    if cursor[offset + b] < 0:
                        wanted[distinct, g] = b
                        distinct += 1
                        depth = max(depth, distinct)
                        cursor[offset + b] = total
                        total += count[offset + b]
                    base[g, k] = cursor[offset + b]
            for b in range(stride):
                count[offset + b] = 0
        # Pass 2: gather the values of the wanted bins.
        values = np.empty(total)
        words = (w + 7) // 8
        for i in range(n):
            key = keys[i]
            for g in range(w):
                hit[g] = key[g] == wanted[0, g]
            for k in range(1, depth):
                for g in range(w):
                    hit[g] |= key[g] == wanted[k, g]
            for q in range(words):
                if hit_words[q] != 0:
                    for g in range(8 * q, min(8 * q + 8, w)):
                        if hit[g]:
                            at = g * stride + key[g]
                            values[cursor[at]] = block[i, j0 + g]
                            cursor[at] += 1
        # Select inside each wanted bin.
        for g in range(w):
            j = j0 + g
            k = 0
            while k < r and bins[g, k] >= 0:
                b = bins[g, k]
                cursor[g * stride + b] = -1
                k1 = k
                while k1 < r and bins[g, k1] == b:
                    k1 += 1
                segment = values[base[g, k]:base[g, k] + size[g, k]]
                deepest = ranks[k1 - 1] - before[g, k]
                if segment.size <= 64:
                    segment.sort()
                else:
                    smallest = segment.min()
                    ties = 0
                    for x in segment:
                        ties += x == smallest
                    if deepest < ties:  # every wanted rank is a copy of the smallest value (e.g. zeros)
                        segment = np.full(deepest + 1, smallest)
                    else:
                        segment = np.partition(segment, ranks[k:k1] - before[g, k])
                for kk in range(k, k1):
                    out[j, kk] = segment[ranks[kk] - before[g, kk]]
                k = k1
            for k in range(depth):
                wanted[k, g] = 65535


_ORDER_STATISTICS = []
#: Most histogram bins per column (the keys are uint16; more bins only grow the counts' footprint).
MAX_BINS = 4096
#: Bytes the per-column bin counts of one pass may take (about half a core's L2 cache).
COUNT_BYTES = 1 << 21
#: Bytes the bin keys of one pass may take (2 per value).
KEY_BYTES = 1 << 24


def kernel_sizes(n: int) -> tuple[int, int]:
    """(bins per column, columns per pass) of the order-statistics kernel for `n` rows.

    About 16 values per bin (measured best for 10 000 rows: fewer bins make the sorted bins
    larger, more make the counts spill out of cache), and as many columns per pass as the counts
    and keys budgets allow (at least 8).
    """
    nbins = max(1, min(n // 16, MAX_BINS))
    width = max(8, min(COUNT_BYTES // (4 * (nbins + 3)), KEY_BYTES // (2 * max(n, 1))))
    return nbins, width


def bin_counts(n: int, nbins: int, width: int) -> np.ndarray:
    """The kernel's zeroed bin counts: uint16 when `n` rows fit (half the cache footprint), else int32."""
    return np.zeros(width * (nbins + 3), np.uint16 if n < 1 << 16 else np.int32)


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
    nbins, width = kernel_sizes(n)
    count = bin_counts(n, nbins, width)
    _ORDER_STATISTICS[0](block, first, last, ranks.astype(np.int64), nbins, width, count, out, all_nan)
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
