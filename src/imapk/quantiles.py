"""Quantiles over subjects, computed fast and bit-identical to ``numpy.quantile`` ('linear').

``numpy.quantile(x, q, axis=0)`` on a (subjects, doses) array partitions every column. Here compiled
kernels find only the order statistics the quantiles need (a histogram pass over the rows narrows
each rank to one bin, then a selection inside it; see :func:`order_statistics`), and numpy's own
interpolation rule is applied to them, operation for operation, so the result equals numpy's to the
bit (tested). For 10 000 subjects x 365 daily doses of log-normal troughs (the exact-engine
benchmark's population) on a 2-core machine: about 5.1 ms of CPU on one thread and 3.0 ms on each
of two, against 9.0 ms and 5.1 ms for the column-major bin counts and floating-point keys this
replaced, and about 38 ms for ``numpy.quantile``; ``simulate`` with the default percentiles then
takes about 1.8 times as long as with ``quantiles=()`` (``benchmarks/test_bench_exact.py``).
Equal-width bins are used for light-tailed columns and bins on the bit pattern (nearly logarithmic)
for positive skewed ones, so heavy tails cost no more than normal data.
"""

from __future__ import annotations

import numpy as np

__all__ = ["order_statistics", "quantile_plan", "lerp", "column_quantiles", "kernel_sizes"]


def _bin_ranges_py(block, j0, w, nbins, low, origin, scale, logarithmic, base, shift):
    """Per column ``j0 <= j < j0 + w``: the histogram's range and scale (see :func:`order_statistics`).

    The range is the min and max of the finite values of 128 evenly spaced rows. Positive columns
    spanning more than an octave are binned on their bit pattern (`logarithmic`): the key is then
    ``(bits - base) >> shift`` (integer operations only), with `shift` the smallest that puts the
    sample's range in at most `nbins` bins; the other columns use ``(x - origin) * scale``.
    """
    n = block.shape[0]
    samples = min(n, 128)
    one = np.empty(1)
    one_bits = one.view(np.int64)
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
        logarithmic[g] = lo > 0.0 and hi > 2.0 * lo
        base[g] = 0
        shift[g] = 0
        if logarithmic[g]:
            one[0] = lo
            base[g] = one_bits[0]
            one[0] = hi
            span = one_bits[0] - base[g]
            while (span >> shift[g]) >= nbins:
                shift[g] += 1
            origin[g] = 0.0
            scale[g] = 0.0
            continue
        origin[g] = lo
        sc = nbins / (hi - lo) if hi > lo else 0.0
        scale[g] = sc if sc < np.inf else 0.0  # a range beyond float64: one bin (still monotone)


def _count_py(block, first_row, last_row, j0, w, nbins, low, origin, scale, linear, base, shift, keys, count):
    """Pass 1 over rows ``first_row <= i < last_row``: each value's bin key into `keys` (i, g), counted in `count`.

    Keys: below the range -> 0, the `nbins` bins -> 1..nbins, above it (and +inf) -> nbins + 1,
    NaN -> nbins + 2. Every column is first keyed on its bit pattern (integer operations, one loop
    the compiler vectorises), then the columns listed in `linear` are keyed again on their values.
    `count` holds the counts bin by bin, ``(nbins + 3, w)`` flattened: a subject has about the same
    bin in every column (its rank keeps from dose to dose), so the increments of one row fall on a
    few neighbouring cache lines instead of one per column.
    """
    bits = block.view(np.int64)
    for i in range(first_row, last_row):
        key = keys[i]
        row_bits = bits[i, j0:j0 + w]
        for g in range(w):
            u = row_bits[g]
            b = base[g]
            e = ((u if u > b else b) - b) >> shift[g]
            k = (e if e < nbins else nbins) + 1
            k = k if u >= b else 0  # below the range, and every negative value
            k = k if (u & 0x7FFFFFFFFFFFFFFF) <= 0x7FF0000000000000 else nbins + 2  # NaN (+inf: above)
            key[g] = k
        for c in range(linear.shape[0]):
            g = linear[c]
            x = block[i, j0 + g]
            f = (x - origin[g]) * scale[g]
            if not f < nbins:
                f = nbins
            if x < low[g]:
                f = -1.0
            if x != x:
                f = nbins + 1.0
            key[g] = int(f) + 1
        for g in range(w):
            count[int(key[g]) * w + g] += 1


def _plan_py(counts, n, ranks, nbins, j0, w, out, all_nan, bins, before, size, base, wanted, cursors):
    """The bins of the wanted ranks (from the counts of every row block, `counts` (T, (nbins + 3) * w)),
    where each bin's values go in the gathered array, and where each row block starts writing them
    (`cursors` (T, r, w), by distinct wanted bin). Returns (values to gather, distinct bins per column at most).
    """
    blocks = counts.shape[0]
    r = ranks.shape[0]
    stride = nbins + 3
    never = n + 1  # a target no cumulative count passes
    upto = np.zeros(w, np.int64)  # values in the bins scanned so far
    target = np.full(w, never, np.int64)  # the column's next wanted rank
    next_rank = np.zeros(w, np.int64)
    open_columns = 0
    for g in range(w):
        nan_count = 0
        for t in range(blocks):
            nan_count += counts[t, (nbins + 2) * w + g]
        all_nan[j0 + g] = nan_count == n
        if nan_count > 0:
            for k in range(r):
                out[j0 + g, k] = np.nan
                bins[g, k] = -1
            next_rank[g] = r
        elif r > 0:
            target[g] = ranks[0]
            open_columns += 1
    # the cumulative counts, bin by bin (the order they are stored in), all columns at once: loops
    # without branches per bin, and the bookkeeping only where a column passes a wanted rank
    for b in range(stride):
        if open_columns == 0:
            break
        for t in range(blocks):
            row = counts[t, b * w:(b + 1) * w]
            for g in range(w):
                upto[g] += row[g]
        passed = False
        for g in range(w):
            passed |= upto[g] > target[g]
        if not passed:
            continue
        for g in range(w):
            if upto[g] <= target[g]:
                continue
            here = 0
            for t in range(blocks):
                here += counts[t, b * w + g]
            k = next_rank[g]
            while k < r and upto[g] > ranks[k]:
                bins[g, k] = b
                before[g, k] = upto[g] - here
                size[g, k] = here
                k += 1
            next_rank[g] = k
            if k == r:
                target[g] = never
                open_columns -= 1
            else:
                target[g] = ranks[k]
    total = 0
    depth = 1
    for g in range(w):
        distinct = 0
        for k in range(r):
            b = bins[g, k]
            if b < 0:
                break
            if distinct == 0 or wanted[distinct - 1, g] != b:
                wanted[distinct, g] = b
                at = total
                for t in range(blocks):
                    cursors[t, distinct, g] = at
                    at += counts[t, b * w + g]
                base[g, k] = total
                total += size[g, k]
                distinct += 1
            else:
                base[g, k] = base[g, k - 1]
        depth = max(depth, distinct)
    return total, depth


def _gather_py(block, keys, first_row, last_row, j0, w, wanted, depth, cursor, values):
    """Pass 2 over rows ``first_row <= i < last_row``: the values of the wanted bins into `values`,
    at `cursor` (r, w), which advances."""
    hit = np.zeros(8 * ((w + 7) // 8), np.uint8)
    hit_words = hit.view(np.uint64)
    words = (w + 7) // 8
    for i in range(first_row, last_row):
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
                        k = 0
                        while wanted[k, g] != key[g]:
                            k += 1
                        values[cursor[k, g]] = block[i, j0 + g]
                        cursor[k, g] += 1


def _select_py(values, ranks, j0, first_column, last_column, bins, before, size, base, out):
    """Order statistics of columns ``j0 + g`` for ``first_column <= g < last_column`` from their gathered bins.

    A bin is sorted (when large: answered from the copies of its smallest value when they reach the
    wanted ranks, e.g. zeros, else partitioned, O(size) whatever the values).
    """
    r = ranks.shape[0]
    for g in range(first_column, last_column):
        j = j0 + g
        k = 0
        while k < r and bins[g, k] >= 0:
            b = bins[g, k]
            k1 = k
            while k1 < r and bins[g, k1] == b:
                k1 += 1
            segment = values[base[g, k]:base[g, k] + size[g, k]]
            deepest = ranks[k1 - 1] - before[g, k]
            if segment.size <= 64:  # insertion sort in place: no call, 5 times faster than sort() here
                for a in range(1, segment.size):
                    x = segment[a]
                    c = a - 1
                    while c >= 0 and segment[c] > x:
                        segment[c + 1] = segment[c]
                        c -= 1
                    segment[c + 1] = x
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


_KERNELS: dict = {}
#: Most histogram bins per column (the keys are uint16; more bins only grow the counts' footprint).
MAX_BINS = 4096
#: Bytes the per-column bin counts of one pass may take (about half a core's L2 cache).
COUNT_BYTES = 1 << 21
#: Bytes the bin keys of one pass may take (2 per value).
KEY_BYTES = 1 << 24
#: Rows per thread below which order_statistics keeps to fewer threads.
MIN_ROWS_PER_THREAD = 2048
#: Gathered values below which the selection runs on one thread (10 000 x 365 troughs gather about
#: 41 000, selected in 0.1 ms: less than handing half of them to another thread costs).
MIN_PARALLEL_SELECT = 200_000


def kernel_sizes(n: int) -> tuple[int, int]:
    """(bins per column, columns per pass) of the order-statistics kernels for `n` rows.

    About 8 values per bin (bit-pattern bins, a power of two wide, hold up to twice as many):
    measured best for 10 000 rows of log-normal troughs (5.4 ms of CPU, against 5.8 ms with 16 and
    6.8 ms with 32; fewer bins make the sorted bins larger, more make the counts take more cache),
    and as many columns per pass as the counts and keys budgets allow (at least 8).
    """
    nbins = max(1, min(n // 8, MAX_BINS))
    width = max(8, min(COUNT_BYTES // (4 * (nbins + 3)), KEY_BYTES // (2 * max(n, 1))))
    return nbins, width


def _compiled() -> dict:
    if not _KERNELS:
        from .engine._numba import jit

        for name, func in (
            ("bin_ranges", _bin_ranges_py), ("count", _count_py), ("plan", _plan_py),
            ("gather", _gather_py), ("select", _select_py),
        ):
            _KERNELS[name] = jit(func)
    return _KERNELS


def order_statistics(
    block: np.ndarray, ranks: np.ndarray, columns: tuple[int, int] | None = None, *, threads: int = 1, kernels=None
) -> tuple[np.ndarray, np.ndarray]:
    """Exact order statistics of the columns of `block` (n, d) at the sorted `ranks`: ((d, len(ranks)), all-NaN (d,)).

    A column with a NaN gets NaN (as ``numpy.quantile``); the second array flags the columns that
    are all NaN. With `columns` = (first, last), only those columns are computed (the other rows of
    the result are left unset). The block is read row by row, many columns at a time (reading it
    column by column strides across pages and costs more than everything else), in two passes:

    1. every value gets a bin key from a monotone map (below the column's histogram range -> 0,
       equal bins over the range, above it -> the top bin, NaN -> its own bin), and the keys are
       counted per column. The range is the min and max of 128 evenly spaced rows, so a heavy tail
       does not stretch the bins and no exact min/max pass is needed; positive columns spanning
       more than an octave are binned on the bit pattern of the values (``(bits - base) >> shift``:
       integer operations, monotone for x >= 0 and nearly logarithmic, equal bins per octave), so
       log-normal and heavier-tailed columns fill their bins as evenly as light-tailed ones do. The
       counts are stored bin by bin, all columns of a bin side by side: a subject keeps about the
       same bin from dose to dose, so the increments of one row touch a few cache lines, not one
       per column (this halved the pass on troughs).
    2. the cumulative counts, read in that same order, give the bin of each wanted rank (the map is
       monotone, so bin b holds exactly the ranks start[b] to start[b+1] - 1); the keys are scanned
       again (vectorised compares against the few wanted bins) and only those bins' values are
       gathered, then sorted (insertion sort for small bins) or partitioned, and the ranks read off.

    With `threads` > 1 both passes split the rows between threads (whole rows stay the unit of
    reading) and the selection splits the columns; every column's answer is the same bits whatever
    the split. `kernels` (tests): the five kernels by name, e.g. uncompiled; default compiled (numba,
    on first use).
    """
    from .engine._numba import run_blocks

    kernels = _compiled() if kernels is None else kernels
    block = np.ascontiguousarray(block, dtype=float)
    ranks = np.ascontiguousarray(ranks, dtype=np.int64)
    n, d = block.shape
    r = ranks.size
    first, last = (0, d) if columns is None else columns
    out = np.empty((d, r))
    all_nan = np.zeros(d, dtype=bool)
    if n == 0:
        out[first:last] = np.nan
        all_nan[first:last] = True
        return out, all_nan
    nbins, width = kernel_sizes(n)
    stride = nbins + 3
    threads = max(1, min(threads, n // MIN_ROWS_PER_THREAD))
    row_bounds = [n * t // threads for t in range(threads + 1)]
    thread_of = {lo: t for t, lo in enumerate(row_bounds[:-1])}
    keys = np.empty((n, max(1, min(width, last - first))), np.uint16)
    for j0 in range(first, last, width):
        w = min(width, last - j0)
        low, origin, scale = np.empty(w), np.empty(w), np.empty(w)
        logarithmic = np.zeros(w, dtype=bool)
        base, shift = np.zeros(w, np.int64), np.zeros(w, np.int64)
        kernels["bin_ranges"](block, j0, w, nbins, low, origin, scale, logarithmic, base, shift)
        linear = np.flatnonzero(~logarithmic)
        counts = np.zeros((threads, w * stride), np.uint16 if n < 1 << 16 else np.int32)
        run_blocks(
            lambda lo, hi: kernels["count"](block, lo, hi, j0, w, nbins, low, origin, scale, linear, base, shift, keys, counts[thread_of[lo]]),
            n, threads,
        )
        bins = np.empty((w, r), np.int64)
        before = np.empty((w, r), np.int64)
        size = np.empty((w, r), np.int64)
        base = np.empty((w, r), np.int64)
        wanted = np.full((max(r, 1), w), 65535, np.uint16)
        cursors = np.zeros((threads, max(r, 1), w), np.int64)
        total, depth = kernels["plan"](
            counts, n, ranks, nbins, j0, w, out, all_nan, bins, before, size, base, wanted, cursors,
        )
        values = np.empty(total)
        if total:
            run_blocks(
                lambda lo, hi: kernels["gather"](block, keys, lo, hi, j0, w, wanted, depth, cursors[thread_of[lo]], values),
                n, threads,
            )
        select_threads = min(threads, w) if total >= MIN_PARALLEL_SELECT else 1  # else handing over costs more
        run_blocks(lambda lo, hi: kernels["select"](values, ranks, j0, lo, hi, bins, before, size, base, out), w, select_threads)
    return out, all_nan


def quantile_plan(n: int, quantiles) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """numpy's 'linear' quantile as order statistics: (ranks, index of the lower and upper one, gamma).

    Mirrors ``numpy.quantile`` (virtual index (n - 1) q, floor, lerp with the flip at gamma 0.5) so
    that the streamed quantiles are bit-identical to numpy's on the whole column.
    """
    quantiles = np.asarray(quantiles, dtype=float)
    key = (int(n), quantiles.shape, tuple(quantiles.ravel().tolist()))
    plan = _PLANS.get(key)
    if plan is None:
        virtual = (n - 1) * quantiles
        previous = np.floor(virtual)
        above = virtual >= n - 1
        previous_rank = np.where(above, n - 1, previous).astype(np.int64)
        next_rank = np.where(above, n - 1, previous + 1).astype(np.int64)
        gamma = virtual - np.where(above, -1.0, previous)
        ranks = np.unique(np.concatenate([previous_rank, next_rank]))
        plan = ranks, np.searchsorted(ranks, previous_rank), np.searchsorted(ranks, next_rank), gamma
        if len(_PLANS) < MAX_PLANS:
            _PLANS[key] = plan
    return tuple(array.copy() for array in plan)


#: quantile_plan's answers kept (a population run asks the same one for every call): at most this many.
MAX_PLANS = 64
_PLANS: dict = {}


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

    Large arrays are split into blocks of rows (then of columns) run on threads (the kernels release
    the GIL); the split does not change a bit.
    """
    from .engine._numba import parallel_threads

    values = np.asarray(values, dtype=float)
    if values.size < MIN_COMPILED_VALUES:
        return np.quantile(values, np.asarray(quantiles, dtype=float), axis=0)
    ranks, lower, upper, gamma = quantile_plan(values.shape[0], quantiles)
    threads = parallel_threads() if values.size >= MIN_PARALLEL_VALUES else 1
    stats, _ = order_statistics(values, ranks, threads=threads)
    return lerp(stats[:, lower], stats[:, upper], np.asarray(gamma)[None, :]).T
