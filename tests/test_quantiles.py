"""Quantiles over subjects (imapk.quantiles): bit-identical to numpy.quantile ('linear') on any data.

The kernel bins every value by a monotone map (equal bins, or bins on the bit pattern of positive
skewed columns), then selects inside the bins that hold the wanted ranks. Whatever the bins, the
result must equal ``numpy.quantile`` to the bit: these tests feed it the distributions that stress
the bins (light and heavy tails, clumps, ties, zeros, infinities, NaN) and the edges of its
bookkeeping (one row, constant columns, several column blocks, a column range), compiled and as
plain Python.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import imapk.quantiles as quantiles
from imapk.metrics import DEFAULT_QUANTILES

#: Quantile sets: the default, the extremes, and many close together (many ranks in one bin).
QUANTILE_SETS = {
    "default": DEFAULT_QUANTILES,
    "extremes": (0.0, 0.5, 1.0),
    "dense": tuple(np.linspace(0.4, 0.6, 21)),
}


def _columns(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Named columns of `n` values, each a case the binning must survive."""
    lognormal = rng.lognormal(6.0, 1.0, n)
    return {
        "log-normal, sigma 0.3 (troughs)": rng.lognormal(6.5, 0.3, n),
        "log-normal, sigma 1": lognormal,
        "log-normal, sigma 3": rng.lognormal(0.0, 3.0, n),
        "pareto, alpha 0.5 (no mean)": rng.pareto(0.5, n),
        "normal around zero": rng.normal(0.0, 1.0, n),
        "negative log-normal": -rng.lognormal(2.0, 1.5, n),
        "half zeros, half log-normal": np.where(rng.random(n) < 0.5, 0.0, lognormal),
        "90 % zeros": np.where(rng.random(n) < 0.9, 0.0, lognormal),
        "constant": np.full(n, 812.5),
        "all zeros": np.zeros(n),
        "many ties": np.round(rng.normal(0.0, 3.0, n)),
        "one clump, tiny spread": np.where(rng.random(n) < 0.9, 1.0, rng.normal(1.0, 1e-12, n)),
        "two clumps far apart": np.where(rng.random(n) < 0.5, 1e-300, 1e300) * rng.uniform(1.0, 2.0, n),
        "denormals": rng.uniform(0.0, 1.0, n) * 5e-320,
        "a range beyond float64": rng.uniform(-1.0, 1.0, n) * 1.7e308,
        "infinities": np.where(rng.random(n) < 0.1, np.inf, np.where(rng.random(n) < 0.1, -np.inf, lognormal)),
        "only infinities": np.where(rng.random(n) < 0.5, np.inf, -np.inf),
        "one NaN": np.where(np.arange(n) == n // 2, np.nan, lognormal),
        "all NaN": np.full(n, np.nan),
        "NaN and infinities": np.where(np.arange(n) == 0, np.nan, np.inf),
        "sorted": np.sort(lognormal),
        "reverse sorted": np.sort(lognormal)[::-1],
    }


def _block(n: int, seed: int = 0) -> tuple[list[str], np.ndarray]:
    columns = _columns(np.random.default_rng(seed), n)
    return list(columns), np.stack(list(columns.values()), axis=1)


def _expected(block: np.ndarray, q) -> np.ndarray:
    with np.errstate(all="ignore"):  # differences of +-1.7e308 overflow, in numpy's lerp as in ours
        return np.quantile(block, q, axis=0)


def _from_order_statistics(block: np.ndarray, q, **options) -> tuple[np.ndarray, np.ndarray]:
    ranks, lower, upper, gamma = quantiles.quantile_plan(block.shape[0], q)
    with np.errstate(all="ignore"):  # numba's error model: a range beyond float64 overflows silently
        stats, all_nan = quantiles.order_statistics(block, ranks, **options)
        return quantiles.lerp(stats[:, lower], stats[:, upper], gamma[None, :]).T, all_nan


PLAIN_PYTHON = {
    "bin_ranges": quantiles._bin_ranges_py,
    "count": quantiles._count_py,
    "plan": quantiles._plan_py,
    "gather": quantiles._gather_py,
    "select": quantiles._select_py,
}


def _assert_bits_equal(got: np.ndarray, expected: np.ndarray, names=None) -> None:
    """Equal to the bit, NaN where NaN (and +0.0 and -0.0 told apart only where both are nonzero)."""
    np.testing.assert_array_equal(got, expected, err_msg=f"columns: {names}")
    both = (got != 0) & ~np.isnan(got)
    np.testing.assert_array_equal(got[both].view(np.int64), expected[both].view(np.int64))


@pytest.mark.parametrize("n", [1, 2, 3, 7, 16, 40, 129, 1000, 10_001, 70_000])  # 70 000: int32 counts
@pytest.mark.parametrize("q", list(QUANTILE_SETS.values()), ids=list(QUANTILE_SETS))
def test_order_statistics__equal_numpy_quantile_bit_for_bit(n, q):
    names, block = _block(n, seed=n)
    got, all_nan = _from_order_statistics(block, q)
    _assert_bits_equal(got, _expected(block, q), names)
    assert all_nan.tolist() == [bool(np.isnan(block[:, j]).all()) for j in range(block.shape[1])]


@pytest.mark.parametrize("sigma", [0.3, 0.6, 1.0, 2.0, 3.0])
def test_column_quantiles__log_normal_population(monkeypatch, sigma):
    """A (subject, dose) array of log-normal troughs, first dose all zero, through the public entry."""
    monkeypatch.setattr(quantiles, "MIN_COMPILED_VALUES", 0)
    rng = np.random.default_rng(int(sigma * 10))
    trough = rng.lognormal(6.5, sigma, (5000, 30)) * np.linspace(0.2, 1.0, 30)
    trough[:, 0] = 0.0
    _assert_bits_equal(quantiles.column_quantiles(trough, DEFAULT_QUANTILES), np.quantile(trough, DEFAULT_QUANTILES, axis=0))


def test_order_statistics__several_column_blocks(monkeypatch):
    """More columns than one pass takes: the per-pass state (counts, wanted bins) is reset between passes."""
    monkeypatch.setattr(quantiles, "KEY_BYTES", 2 * 500 * 8)  # 8 columns per pass at 500 rows
    names, block = _block(500, seed=3)
    block = np.concatenate([block, block[::-1] * 0.5, block[:, ::-1]], axis=1)  # 66 columns, 9 passes
    assert quantiles.kernel_sizes(500)[1] == 8
    got, _ = _from_order_statistics(block, DEFAULT_QUANTILES)
    _assert_bits_equal(got, _expected(block, DEFAULT_QUANTILES))


def test_order_statistics__column_range_leaves_the_other_rows_alone():
    _, block = _block(300, seed=4)
    ranks, *_ = quantiles.quantile_plan(300, DEFAULT_QUANTILES)
    whole, whole_nan = quantiles.order_statistics(block, ranks)
    part, part_nan = quantiles.order_statistics(block, ranks, (5, 17))
    np.testing.assert_array_equal(part[5:17], whole[5:17])
    np.testing.assert_array_equal(part_nan[5:17], whole_nan[5:17])
    assert not part_nan[:5].any() and not part_nan[17:].any()


def test_order_statistics__no_rows():
    stats, all_nan = quantiles.order_statistics(np.empty((0, 3)), np.array([0, 1]))
    assert np.isnan(stats).all() and all_nan.all()


def test_order_statistics__plain_python_equals_compiled():
    """The kernel's source run by the interpreter (as numba compiles it) gives the same bits."""
    names, block = _block(70, seed=5)
    got, all_nan = _from_order_statistics(block, DEFAULT_QUANTILES, kernels=PLAIN_PYTHON)
    _assert_bits_equal(got, _expected(block, DEFAULT_QUANTILES), names)
    compiled, compiled_nan = _from_order_statistics(block, DEFAULT_QUANTILES)
    _assert_bits_equal(got, compiled)
    np.testing.assert_array_equal(all_nan, compiled_nan)


@pytest.mark.parametrize("threads", [2, 3, 8])
def test_order_statistics__rows_split_between_threads(monkeypatch, threads):
    """Both passes split the rows (each thread its own counts and write positions), the selection the columns."""
    monkeypatch.setattr(quantiles, "MIN_ROWS_PER_THREAD", 1)
    monkeypatch.setattr(quantiles, "MIN_PARALLEL_SELECT", 0)
    names, block = _block(1001, seed=7)
    for q in QUANTILE_SETS.values():
        got, all_nan = _from_order_statistics(block, q, threads=threads)
        _assert_bits_equal(got, _expected(block, q), names)
        assert all_nan.tolist() == [bool(np.isnan(block[:, j]).all()) for j in range(block.shape[1])]
    got, _ = _from_order_statistics(block[:5], DEFAULT_QUANTILES, threads=threads)  # more threads than rows
    _assert_bits_equal(got, _expected(block[:5], DEFAULT_QUANTILES))


def test_column_quantiles__threads_and_numpy_below_the_threshold_agree(monkeypatch):
    trough = np.random.default_rng(6).lognormal(6.0, 0.8, (3001, 41))
    expected = np.quantile(trough, DEFAULT_QUANTILES, axis=0)
    _assert_bits_equal(quantiles.column_quantiles(trough, DEFAULT_QUANTILES), expected)  # numpy itself
    monkeypatch.setattr(quantiles, "MIN_COMPILED_VALUES", 0)
    monkeypatch.setattr(quantiles, "MIN_PARALLEL_VALUES", 0)
    _assert_bits_equal(quantiles.column_quantiles(trough, DEFAULT_QUANTILES), expected)
    _assert_bits_equal(quantiles.column_quantiles(trough[:, :1], DEFAULT_QUANTILES), expected[:, :1])


finite = st.floats(allow_nan=False, allow_infinity=True, allow_subnormal=True, width=64)


@settings(deadline=None, max_examples=200)  # deadline: the first example compiles the kernel
@given(
    block=arrays(np.float64, st.tuples(st.integers(1, 60), st.integers(1, 4)), elements=finite),
    q=st.lists(st.floats(0.0, 1.0), min_size=1, max_size=6),
)
def test_order_statistics__any_finite_or_infinite_values(block, q):
    got, _ = _from_order_statistics(block, q)
    _assert_bits_equal(got, _expected(block, q))


def _unsampled_rows(n: int) -> np.ndarray:
    """Rows the histogram range is not drawn from (it samples 128 evenly spaced rows)."""
    sampled = (np.arange(min(n, 128)) * (n - 1)) // max(min(n, 128) - 1, 1)
    return np.setdiff1d(np.arange(n), sampled)


@pytest.mark.parametrize("kernels", [None, PLAIN_PYTHON], ids=["compiled", "plain Python"])
def test_order_statistics__bit_pattern_bins_meet_values_outside_the_sampled_range(kernels):
    """A column positive and skewed on the sampled rows is binned on its bit pattern; values the
    sample did not see (negative numbers, -0.0, zeros, subnormals, the largest doubles, infinities,
    a NaN with its sign bit set) must land below, above or in the NaN bin, never inside the range."""
    n = 1000
    rng = np.random.default_rng(11)
    unsampled = _unsampled_rows(n)
    specials = [-0.0, 0.0, -1.0, -np.inf, np.inf, 5e-324, 1.7e308, -1.7e308, 1e-300]
    edges = rng.lognormal(5.0, 1.0, n)
    edges[unsampled[: len(specials)]] = specials
    huge = rng.lognormal(0.0, 1.0, n) * 1e300  # the sampled range near the top of the doubles
    huge[unsampled[:2]] = [np.inf, 1.7e308]
    negative_nan = rng.lognormal(5.0, 1.0, n)
    negative_nan[unsampled[5]] = np.copysign(np.nan, -1.0)
    ties_at_the_minimum = rng.lognormal(5.0, 1.0, n)
    ties_at_the_minimum[unsampled[:300]] = ties_at_the_minimum.min()
    block = np.stack([edges, huge, negative_nan, ties_at_the_minimum], axis=1)
    for q in QUANTILE_SETS.values():
        options = {} if kernels is None else {"kernels": kernels}
        got, all_nan = _from_order_statistics(block, q, **options)
        _assert_bits_equal(got, _expected(block, q))
        assert all_nan.tolist() == [False] * 4


def test_order_statistics__columns_alike_from_dose_to_dose():
    """Troughs that rise towards a steady state and then repeat bit for bit (a subject keeps its bin
    from column to column, the case the bin-by-bin count layout is laid out for), on 1 and 2 threads."""
    rng = np.random.default_rng(12)
    n, doses = 3000, 60
    rate = rng.lognormal(np.log(0.04), 0.3, n)[:, None]
    level = rng.lognormal(7.0, 0.4, n)[:, None]
    trough = level * (1.0 - np.exp(-rate * 24.0 * np.arange(doses)[None, :]))
    trough[:, 40:] = trough[:, 39:40]  # steady state: the same bits from dose 39 on
    for threads in (1, 2):
        got, _ = _from_order_statistics(trough, DEFAULT_QUANTILES, threads=threads)
        _assert_bits_equal(got, _expected(trough, DEFAULT_QUANTILES))


def test_population_summary__without_thresholds():
    """No thresholds: the percentiles alone (numpy's, to the bit), and empty attainment rows."""
    from imapk.metrics import population_summary

    trough = np.random.default_rng(13).lognormal(6.5, 0.5, (2000, 30))
    summary = population_summary(trough, DEFAULT_QUANTILES, np.empty(0))
    _assert_bits_equal(summary["trough_quantile"], np.quantile(trough, DEFAULT_QUANTILES, axis=0))
    assert summary["target_attainment"].shape == (0, 30)


def test_quantile_plan__kept_answers_are_not_shared():
    """The plan is kept for the next call with the same (n, quantiles); callers get their own arrays."""
    first = quantiles.quantile_plan(10_000, DEFAULT_QUANTILES)
    first[0][:] = -1
    again = quantiles.quantile_plan(10_000, DEFAULT_QUANTILES)
    # the order statistics either side of numpy's virtual index (n - 1) q: floor and floor + 1
    assert again[0].tolist() == [499, 500, 2499, 2500, 4999, 5000, 7499, 7500, 9499, 9500]
    assert quantiles.quantile_plan(10_001, DEFAULT_QUANTILES)[0].tolist() == [500, 501, 2500, 2501, 5000, 5001, 7500, 7501, 9500, 9501]
