"""What the plots draw (labels with units, lines, shaded holds, colour bars, legends) and `imapk plot`."""

import subprocess
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest

from imapk.cli import main
from imapk.errors import ImapkError
from imapk.io import write_netcdf
from imapk.plot import plot_models, plot_population, plot_sweep, plot_troughs
from imapk.scenario import parse_scenario, run_scenario
from imapk.sweep import load_sweep, open_sweep, run_sweep

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

#: A hold on days 10-14 (5 held doses), then 200 mg for a week, then 400 mg again.
SCENARIO = """
[scenario]
title = "plot test"
seed = 11

[model]
parameter_set = {models}

[population]
size = {n}

[population.covariates]
weight = "70 kg"
age = "55 y"
sex = "male"
disease = "GIST"

[[schedule.phases]]
label = "400 mg once daily"
dose = "400 mg"
days = {days}

[[schedule.holds]]
label = "rash"
start_day = 10
days = {hold}
restart = [
    {{ dose = "{restart}", days = 7 }},
]

[verdict]
thresholds = ["gist", "toxicity_alarm"]

[output]
dense = {dense}
"""

SWEEP = """
[sweep]
subjects_per_chunk = 10

[[sweep.axes]]
name = "hold_length"
key = "schedule.holds[0].days"
values = [3, 7]
units = "d"

[[sweep.axes]]
name = "restart_dose"
key = "schedule.holds[0].restart[0].dose"
values = ["200 mg", "300 mg"]
"""


def scenario_text(n=50, days=40, models='"widmer2006_covariates"', dense="false"):
    return SCENARIO.format(n=n, days=days, models=models, hold=5, restart="200 mg", dense=dense)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def population():
    return run_scenario(parse_scenario(scenario_text()))


@pytest.fixture(scope="module")
def single():
    return run_scenario(parse_scenario(scenario_text(n=1, dense="true")))


@pytest.fixture(scope="module")
def comparison():
    return run_scenario(parse_scenario(scenario_text(n=1, models='["widmer2006", "gotta2014", "judson2005"]')))


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("sweep")
    path = folder / "sweep.toml"
    path.write_text(SWEEP + SCENARIO.format(n=10, days=20, models='"widmer2006_covariates"', hold=5,
                                            restart="200 mg", dense="false").replace(
        'thresholds = ["gist", "toxicity_alarm"]', 'thresholds = ["gist"]'))
    out = folder / "small.zarr"
    run_sweep(load_sweep(path), out, workers=1, progress=False)
    return out


def legend_texts(ax) -> list[str]:
    legend = ax.get_legend()
    assert legend is not None
    return [t.get_text() for t in legend.get_texts()]


def hold_spans(ax) -> list[tuple[float, float]]:
    """(start, end) day of each shaded span (the NaN-wide legend proxy is left out)."""
    from matplotlib.patches import Rectangle

    spans = []
    for patch in ax.patches:
        if isinstance(patch, Rectangle):
            x = (patch.get_x(), patch.get_x() + patch.get_width())
        else:  # Polygon, matplotlib < 3.9
            xs = patch.get_xy()[:, 0]
            x = (xs.min(), xs.max())
        if np.all(np.isfinite(x)):
            spans.append((float(x[0]), float(x[1])))
    return spans


# --- plot_troughs -----------------------------------------------------------------------------------


def test_troughs__curve_troughs_thresholds_and_one_hold(single):
    ax = plot_troughs(single)
    assert ax.get_xlabel() == "clinical day"
    assert ax.get_ylabel() == "imatinib plasma concentration [ng/mL]"
    labels = legend_texts(ax)
    assert labels == [
        "concentration", "trough C(t-) at each scheduled dose", "hold (doses held)",
        "gist trough target: 1100 ng/mL", "toxicity_alarm trough ceiling: 3000 ng/mL (above the plot)",
    ]
    # the curve, the troughs and two threshold lines, each in the style of its kind
    assert len(ax.get_lines()) == 4
    styles = {line.get_label(): line.get_linestyle() for line in ax.get_lines()}
    assert styles["gist trough target: 1100 ng/mL"] == "--"
    assert styles["toxicity_alarm trough ceiling: 3000 ng/mL (above the plot)"] == "-."
    assert hold_spans(ax) == [(10.0, 15.0)]
    # The curve sets the scale (the ceiling far above it is not drawn into view), and the dose steps are named.
    peak = float(np.nanmax(single["concentration"].values))
    assert ax.get_ylim()[1] == pytest.approx(1.25 * peak)
    texts = [t.get_text() for t in ax.texts]
    assert texts[0] == "400 mg" and "held" in texts


# --- plot_population --------------------------------------------------------------------------------


def test_population__fan_thresholds_holds_and_pta_panel(population):
    ax_fan, ax_pta = plot_population(population)
    assert ax_fan.figure is ax_pta.figure
    assert ax_fan.get_ylabel() == "trough concentration [ng/mL]"
    assert ax_pta.get_xlabel() == "clinical day"
    assert ax_pta.get_ylabel() == "subjects with trough >= threshold [%]"
    # two bands (5-95 and 25-75), the median and two threshold lines
    bands = [c for c in ax_fan.collections if c.get_label().endswith("percentile")]
    assert [b.get_label() for b in bands] == ["5-95th percentile", "25-75th percentile"]
    assert bands[0].get_alpha() < bands[1].get_alpha()
    assert len(ax_fan.get_lines()) == 3
    median = ax_fan.get_lines()[0]
    assert median.get_label() == "median trough"
    np.testing.assert_allclose(median.get_ydata(), population["trough_quantile"].sel(quantile=0.5).values)
    assert "5-95th percentile" in legend_texts(ax_fan) and "hold (doses held)" in legend_texts(ax_fan)
    assert hold_spans(ax_fan) == [(10.0, 15.0)] and hold_spans(ax_pta) == [(10.0, 15.0)]
    # one PTA curve, for the trough target, and for the trough ceiling its wrong side (dash-dotted), in percent
    assert legend_texts(ax_pta) == ["trough >= gist (1100 ng/mL)", "trough >= trough ceiling toxicity_alarm (3000 ng/mL)"]
    pta, above = ax_pta.get_lines()
    np.testing.assert_allclose(pta.get_ydata(), population["target_attainment"].sel(threshold="gist").values * 100)
    np.testing.assert_allclose(
        above.get_ydata(), population["trough_ceiling_exceedance"].sel(threshold="toxicity_alarm").values * 100
    )
    assert pta.get_linestyle() == "-" and above.get_linestyle() == "-."
    low, high = ax_pta.get_ylim()
    assert low < 0 and high > 100


def test_population__concentration_ceiling_is_marked_as_judged_on_the_peak():
    text = scenario_text(n=5).replace(
        'thresholds = ["gist", "toxicity_alarm"]',
        'thresholds = ["gist"]\n[[verdict.custom]]\nname = "peak"\nvalue = "2500 ng/mL"\nkind = "concentration_ceiling"',
    )
    ax_fan, ax_pta = plot_population(run_scenario(parse_scenario(text)))
    styles = {line.get_label(): line.get_linestyle() for line in ax_fan.get_lines()}
    assert styles["peak concentration ceiling (on the peak): 2500 ng/mL"] == ":"
    assert ax_pta.get_ylabel() == "target attainment [% of subjects]"
    assert legend_texts(ax_pta) == ["trough >= gist (1100 ng/mL)"]  # a peak ceiling has no per-dose trough curve


def test_population__on_given_axes_and_fan_only(population):
    _, axes = plt.subplots(2, 1)
    assert plot_population(population, ax=tuple(axes)) == tuple(axes)
    _, ax = plt.subplots()
    fan, pta = plot_population(population, ax=ax)
    assert fan is ax and pta is None
    assert ax.get_xlabel() == "clinical day"


# --- plot_models ------------------------------------------------------------------------------------


def test_models__one_labelled_line_per_model(comparison):
    ax = plot_models(comparison)
    assert ax.get_xlabel() == "clinical day"
    assert ax.get_ylabel() == "trough [ng/mL]"
    models = {"widmer2006", "gotta2014", "judson2005"}
    drawn = [line for line in ax.get_lines() if line.get_label() in models]
    assert len(drawn) == 3
    assert len(ax.get_lines()) == 3 + 2  # and the two thresholds
    labels = legend_texts(ax)
    assert set(labels[:3]) == models
    # the legend is in the order of the lines at the last day, highest first
    last = [line.get_ydata()[-1] for line in drawn]
    assert last == sorted(last, reverse=True)
    gotta = next(line for line in drawn if line.get_label() == "gotta2014")
    np.testing.assert_allclose(gotta.get_ydata(), comparison["trough"].sel(model="gotta2014").isel(subject=0).values)
    assert hold_spans(ax) == [(10.0, 15.0)]


def test_models__needs_a_model_dimension(population):
    with pytest.raises(ImapkError, match="no model dimension"):
        plot_models(population)


# --- plot_sweep -------------------------------------------------------------------------------------


def test_sweep__heat_map_in_days_with_colour_bar_and_values(store):
    ds = open_sweep(store)
    ax = plot_sweep(ds, "hold_length", "restart_dose", threshold="gist")
    assert ax.get_xlabel() == "hold length [d]"
    assert ax.get_ylabel() == "restart dose [mg]"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["3", "7"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["200", "300"]
    (image,) = ax.get_images()
    expected = ds["mean_time_below"].sel(threshold="gist").transpose("restart_dose", "hold_length").values / 24
    np.testing.assert_allclose(image.get_array(), expected)
    assert len(ax.figure.axes) == 2  # the map and its colour bar
    assert ax.figure.axes[1].get_ylabel() == "mean time below threshold [d]"
    assert sorted(t.get_text() for t in ax.texts) == sorted(f"{v:.1f}" for v in expected.ravel())
    assert "gist (1100 ng/mL)" in ax.get_title()


def test_sweep__target_attainment_transposed(store):
    ds = open_sweep(store)
    ax = plot_sweep(ds, x="restart_dose", y="hold_length", variable="target_attainment")
    (image,) = ax.get_images()
    assert image.get_array().shape == (2, 2)
    assert ax.get_xlabel() == "restart dose [mg]"
    assert ax.figure.axes[1].get_ylabel() == "target attainment [%]"
    assert np.all((0 <= image.get_array()) & (image.get_array() <= 100))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"x": "hold_days"}, "not a swept dimension"),
        ({"x": "hold_length", "y": "hold_length"}, "must be different"),
        ({"threshold": "cml"}, "unknown threshold"),
        ({"variable": "trough"}, "cannot map this variable"),
        ({"parameter_set": "gotta2014"}, "cannot select on this dimension"),
    ],
)
def test_sweep__bad_options(store, kwargs, message):
    with pytest.raises(ImapkError, match=message):
        plot_sweep(open_sweep(store), **kwargs)


# --- imapk plot -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def result_files(population, single, comparison, tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("results")
    files = {}
    for name, ds in (("population", population), ("single", single), ("models", comparison)):
        files[name] = folder / f"{name}.nc"
        write_netcdf(ds, files[name])
    return files


@pytest.mark.parametrize(("name", "kind"), [("population", "population"), ("single", "troughs"), ("models", "models")])
def test_cli_plot__default_kind_writes_a_png(result_files, tmp_path, capsys, name, kind):
    target = tmp_path / f"{name}.png"
    assert main(["plot", str(result_files[name]), "-o", str(target)]) == 0
    assert target.read_bytes()[:8] == PNG_SIGNATURE
    assert capsys.readouterr().out.startswith(f"{kind} plot of {name}.nc written to")
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{name}.png"]  # no temporary file left


def test_cli_plot__sweep_store(store, tmp_path, capsys):
    target = tmp_path / "sweep.png"
    assert main(["plot", str(store), "-o", str(target), "--x", "restart_dose", "--y", "hold_length",
                 "--threshold", "gist"]) == 0
    assert target.read_bytes()[:8] == PNG_SIGNATURE
    assert "sweep plot of small.zarr" in capsys.readouterr().out


def test_cli_plot__explicit_kind_and_threshold(result_files, tmp_path):
    target = tmp_path / "one.svg"
    assert main(["plot", str(result_files["population"]), "-o", str(target), "--kind", "troughs",
                 "--threshold", "gist"]) == 0
    assert target.read_text().lstrip().startswith("<?xml")


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--kind", "violin"], "--kind: unknown plot kind (got 'violin'; expected one of troughs, population, models, sweep)"),
        (["--kind", "models"], "--kind: the result has no model dimension"),
        (["--kind", "sweep"], "only a sweep store can be drawn as a sweep"),
        (["--threshold", "cml"], "--threshold: unknown threshold (got 'cml'; expected one of gist, toxicity_alarm)"),
        (["--x", "hold_length"], "--x: --x is only for sweeps"),
    ],
)
def test_cli_plot__bad_options_on_a_result(result_files, tmp_path, capsys, arguments, message):
    target = tmp_path / "out.png"
    assert main(["plot", str(result_files["population"]), "-o", str(target), *arguments]) == 2
    err = capsys.readouterr().err
    assert err.startswith("imapk: error: ") and message in err and err.count("\n") == 1
    assert not target.exists()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--x", "hold_days"], "--x: not a swept dimension (got 'hold_days'; expected one of hold_length, restart_dose)"),
        (["--y", "dose"], "--y: not a swept dimension"),
        (["--threshold", "toxicity_alarm"], "--threshold: unknown threshold (got 'toxicity_alarm'; expected one of gist)"),
        (["--kind", "population"], "a sweep store can only be drawn as a sweep"),
    ],
)
def test_cli_plot__bad_options_on_a_sweep(store, tmp_path, capsys, arguments, message):
    assert main(["plot", str(store), "-o", str(tmp_path / "out.png"), *arguments]) == 2
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_cli_plot__bad_files(result_files, tmp_path, capsys):
    assert main(["plot", str(result_files["single"]), "-o", str(tmp_path / "out.jpg")]) == 2
    assert "-o/--output: plot file must be PNG, PDF or SVG (got" in capsys.readouterr().err
    assert main(["plot", str(tmp_path / "result.csv"), "-o", str(tmp_path / "out.png")]) == 2
    assert "cannot read this result" in capsys.readouterr().err
    assert main(["plot", str(tmp_path / "missing.nc"), "-o", str(tmp_path / "out.png")]) == 2
    assert "no such result file" in capsys.readouterr().err
    assert main(["plot", str(result_files["single"]), "-o", str(tmp_path / "no" / "out.png")]) == 2
    assert "the plot folder does not exist" in capsys.readouterr().err


def test_cli_plot__help_imports_nothing_heavy():
    code = (
        "import sys\n"
        "from imapk.cli import main\n"
        "try:\n    main(['plot', '--help'])\nexcept SystemExit:\n    pass\n"
        "print('HEAVY:' + ','.join(m for m in ('numba', 'xarray', 'matplotlib') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "--kind KIND" in result.stdout
    assert result.stdout.strip().splitlines()[-1] == "HEAVY:"


# --- imapk plot reads a result without xarray ---------------------------------------------------------


@pytest.fixture(scope="module")
def clock_and_censored_file(tmp_path_factory) -> Path:
    """A result with a therapy_clock dimension and a boolean variable (censored simulated assays)."""
    text = scenario_text(n=4).replace("[population]\n", "[population]\nresidual_error = true\nquantification_limit = \"500 ng/mL\"\n")
    text = text.replace("[[schedule.phases]]\n", '[schedule]\ntherapy_clock = ["running", "paused"]\n\n[[schedule.phases]]\n', 1)
    path = tmp_path_factory.mktemp("clock") / "clock.nc"
    write_netcdf(run_scenario(parse_scenario(text)), path)
    return path


def result_paths(result_files, clock_and_censored_file) -> list[Path]:
    return [*result_files.values(), clock_and_censored_file]


def assert_same_variables(view, ds, where: str) -> None:
    """Every variable of the xarray Dataset `ds` is in `view` with the same dimensions, type, values
    (NaN where NaN) and attributes: exact equality, as both read the same stored bytes."""
    assert dict(view.sizes) == dict(ds.sizes), where
    assert set(view.dims) == set(ds.dims), where
    for name in ds.variables:
        assert name in view, (where, name)
        mine, theirs = view[name], ds[name]
        assert mine.dims == theirs.dims, (where, name)
        assert mine.values.dtype == theirs.values.dtype, (where, name, mine.values.dtype, theirs.values.dtype)
        np.testing.assert_array_equal(mine.values, theirs.values, err_msg=f"{where}: {name}")
        assert mine.attrs == theirs.attrs, (where, name)


def test_result_view__same_arrays_as_xarray(result_files, clock_and_censored_file):
    """The reader `imapk plot` uses gives what xarray reads from the same file (the reference): every
    variable, dimension, attribute and selection by position that the plots make."""
    from imapk.io import read_netcdf, read_netcdf_view
    from imapk.result_view import ResultView

    for path in result_paths(result_files, clock_and_censored_file):
        ds = read_netcdf(path)
        with read_netcdf_view(path) as view:
            assert isinstance(view, ResultView), path.name
            assert view.attrs.keys() == ds.attrs.keys()
            for key, value in ds.attrs.items():
                assert type(view.attrs[key]) is type(value) and np.array_equal(view.attrs[key], value), (path.name, key)
            assert_same_variables(view, ds, path.name)
            selections = [{"subject": 0}, {"threshold": [1]}, {"subject": [2, 0], "threshold": 0}, {"dose": slice(3, 9)}]
            selections += [{dim: 0} for dim in ("model", "therapy_clock") if dim in ds.dims]
            for selection in selections:
                selection = {dim: index for dim, index in selection.items()
                             if dim in ds.dims and (isinstance(index, slice) or np.max(index) < ds.sizes[dim])}
                assert_same_variables(view.isel(selection), ds.isel(selection), f"{path.name} {selection}")
            one = view.isel(subject=-1).isel(threshold=[1, 0]).isel(threshold=0)
            assert_same_variables(one, ds.isel(subject=-1).isel(threshold=[1, 0]).isel(threshold=0), path.name)
            for name in ("trough", "target_attainment"):
                order = tuple(reversed(view[name].dims))
                np.testing.assert_array_equal(view[name].transpose(*order).values, ds[name].transpose(*order).values)
                np.testing.assert_array_equal(view[name].isel(dose=[4, 1]).values, ds[name].isel(dose=[4, 1]).values)


def test_result_view__a_file_that_needs_cf_decoding_is_read_with_xarray(result_files, tmp_path):
    """A variable packed with scale_factor (not written by imapk) is decoded by xarray, not read raw."""
    import xarray as xr

    from imapk.io import read_netcdf, read_netcdf_view

    ds = read_netcdf(result_files["single"])
    ds["trough"].encoding.update(dtype="int32", scale_factor=0.01, _FillValue=-1)
    path = tmp_path / "packed.nc"
    write_netcdf(ds, path)
    with read_netcdf_view(path) as again:
        assert isinstance(again, xr.Dataset)
        np.testing.assert_allclose(again["trough"].values, ds["trough"].values, atol=0.005)  # half the packing step
    assert main(["plot", str(path), "-o", str(tmp_path / "packed.png"), "--threshold", "gist"]) == 0
    assert (tmp_path / "packed.png").read_bytes()[:8] == PNG_SIGNATURE


@pytest.mark.parametrize(
    ("name", "arguments", "draw"),
    [
        ("single", [], lambda ds: plot_troughs(ds).figure),
        ("population", [], lambda ds: plot_population(ds)[0].figure),
        ("models", [], lambda ds: plot_models(ds).figure),
        ("population", ["--kind", "troughs", "--threshold", "toxicity_alarm"],
         lambda ds: plot_troughs(ds.sel(threshold=["toxicity_alarm"])).figure),
    ],
)
def test_cli_plot__same_picture_as_the_functions_on_xarray(result_files, tmp_path, name, arguments, draw):
    """What `imapk plot` writes (arrays read without xarray, a Figure drawn without pyplot) is byte for
    byte the PNG of the plot functions on the xarray Dataset in a pyplot figure (the reference)."""
    from imapk.io import read_netcdf

    target = tmp_path / "cli.png"
    assert main(["plot", str(result_files[name]), "-o", str(target), *arguments]) == 0
    reference = tmp_path / "reference.png"
    draw(read_netcdf(result_files[name])).savefig(reference, dpi=120)
    assert target.read_bytes() == reference.read_bytes()


def test_cli_plot__a_result_is_drawn_without_xarray_dask_numba_or_pyplot(result_files, clock_and_censored_file, tmp_path):
    """Design point: drawing a result file imports neither xarray (nor pandas, nor dask through
    xarray's array checks) nor the engine's numba kernels nor pyplot; the figure still gets drawn."""
    code = (
        "import sys\n"
        "from imapk.cli import main\n"
        "assert main(sys.argv[1:]) == 0\n"
        "heavy = ('xarray', 'pandas', 'dask', 'numba', 'scipy', 'zarr', 'matplotlib.pyplot')\n"
        "print('HEAVY:' + ','.join(m for m in heavy if m in sys.modules))\n"
    )
    for path in (result_files["population"], result_files["models"], clock_and_censored_file):
        target = tmp_path / f"{path.stem}.png"
        result = subprocess.run([sys.executable, "-c", code, "plot", str(path), "-o", str(target)],
                                capture_output=True, text=True, check=True)
        assert result.stdout.strip().splitlines()[-1] == "HEAVY:", path.name
        assert target.read_bytes()[:8] == PNG_SIGNATURE


def test_result_view__a_sweep_store_reads_as_xarray_reads_it(store):
    """The store read with zarr alone gives what xarray's open_zarr reads (the reference), and the
    positional selections of a map equal xarray's label selections."""
    from imapk.io import read_zarr_view

    ds = open_sweep(store)
    with read_zarr_view(store) as view:
        assert view.attrs == ds.attrs
        assert_same_variables(view, ds, store.name)
        assert_same_variables(view.isel(restart_dose=1, threshold=0), ds.sel(restart_dose=300.0, threshold="gist"), "sel")


@pytest.mark.parametrize(
    "arguments",
    [[], ["--x", "restart_dose", "--y", "hold_length", "--variable", "target_attainment", "--day", "12"],
     ["--baseline", "hold_length=3"]],
)
def test_cli_plot__same_sweep_map_as_the_function_on_xarray(store, tmp_path, arguments):
    """`imapk plot` of a sweep store (read with zarr alone, drawn without pyplot) writes the PNG of
    plot_sweep on open_sweep's xarray Dataset in a pyplot figure, byte for byte."""
    target = tmp_path / "cli.png"
    assert main(["plot", str(store), "-o", str(target), *arguments]) == 0
    options = dict(zip(arguments[::2], arguments[1::2]))
    reference = tmp_path / "reference.png"
    plot_sweep(open_sweep(store), options.get("--x"), options.get("--y"), variable=options.get("--variable"),
               day=int(options["--day"]) if "--day" in options else None,
               baseline=dict([options["--baseline"].split("=")]) if "--baseline" in options else None,
               ).figure.savefig(reference, dpi=120)
    assert target.read_bytes() == reference.read_bytes()


def test_cli_plot__sweep_store_refused_as_open_sweep_refuses_it(store, tmp_path, capsys):
    """A missing, foreign or unfinished store, and one whose chunks do not match their checksums, get
    open_sweep's one-line error (the plot reads the store without it)."""
    import shutil

    import zarr

    from imapk.sweep import COMPLETE

    missing = tmp_path / "missing.zarr"
    foreign = tmp_path / "foreign.zarr"
    zarr.open_group(str(foreign), mode="w").attrs["title"] = "not a sweep"
    unfinished = tmp_path / "unfinished.zarr"
    shutil.copytree(store, unfinished)
    group = zarr.open_group(str(unfinished), mode="r+")
    group.attrs[COMPLETE] = False
    zarr.consolidate_metadata(str(unfinished))
    tampered = tmp_path / "tampered.zarr"
    shutil.copytree(store, tampered)
    chunk = next(p for p in sorted((tampered / "trough").iterdir()) if not p.name.startswith("."))
    chunk.write_bytes(chunk.read_bytes()[::-1])
    for path in (missing, foreign, unfinished, tampered):
        with pytest.raises(ImapkError) as expected:
            open_sweep(path)
        assert main(["plot", str(path), "-o", str(tmp_path / "out.png")]) == 2
        assert capsys.readouterr().err == f"imapk: error: {expected.value}\n", path.name
        assert not (tmp_path / "out.png").exists()


def test_cli_plot__a_sweep_store_is_drawn_without_xarray_or_dask(store, tmp_path):
    """Design point: a sweep map reads its few small summaries with zarr, without xarray (and the dask
    import that xarray's array checks make), the engine's numba kernels or pyplot."""
    code = (
        "import sys\n"
        "from imapk.cli import main\n"
        "assert main(sys.argv[1:]) == 0\n"
        "heavy = ('xarray', 'pandas', 'dask', 'numba', 'scipy', 'matplotlib.pyplot')\n"
        "print('HEAVY:' + ','.join(m for m in heavy if m in sys.modules))\n"
    )
    target = tmp_path / "map.png"
    result = subprocess.run([sys.executable, "-c", code, "plot", str(store), "-o", str(target)],
                            capture_output=True, text=True, check=True)
    assert result.stdout.strip().splitlines()[-1] == "HEAVY:"
    assert target.read_bytes()[:8] == PNG_SIGNATURE


@pytest.fixture(scope="module")
def store_of_three(tmp_path_factory) -> Path:
    """The small sweep with a third swept dimension, the population model."""
    folder = tmp_path_factory.mktemp("sweep3")
    path = folder / "sweep.toml"
    axis = '\n[[sweep.axes]]\nname = "parameter_set"\nkey = "model.parameter_set"\nvalues = ["widmer2006", "gotta2014"]\n'
    path.write_text(SWEEP + axis + SCENARIO.format(n=10, days=20, models='"widmer2006_covariates"', hold=5,
                                                   restart="200 mg", dense="false"))
    out = folder / "three.zarr"
    run_sweep(load_sweep(path), out, workers=1, progress=False)
    return out


def test_sweep__other_dimension_selected_by_value(store_of_three):
    """A swept dimension that is not mapped is fixed at the value asked for (exact match, as xarray's
    ``sel``: the reference), on open_sweep's Dataset and on the store read with zarr alone."""
    from imapk.io import read_zarr_view

    ds = open_sweep(store_of_three)
    expected = ds["mean_time_below"].sel(parameter_set="gotta2014", threshold="gist").transpose(
        "restart_dose", "hold_length").values / 24  # h -> d
    with read_zarr_view(store_of_three) as view:
        for source in (ds, view):
            ax = plot_sweep(source, "hold_length", "restart_dose", parameter_set="gotta2014")
            (image,) = ax.get_images()
            np.testing.assert_allclose(image.get_array(), expected, rtol=1e-15)  # x (1/24) vs / 24: one rounding
            assert ax.get_title().endswith("parameter_set = gotta2014")
            with pytest.raises(ImapkError, match=r"no such value of parameter_set \(got 'judson2005'; expected one of "
                                                 r"widmer2006, gotta2014\)"):
                plot_sweep(source, "hold_length", "restart_dose", parameter_set="judson2005")
