"""Small work runs uncompiled: a one-patient run imports neither numba nor scipy, and its numbers are the
compiled kernels' numbers, bit for bit."""

import subprocess
import sys

import numpy as np

CASE = "scenarios/gist-rash-case-report.toml"


def test_one_patient_run_does_not_import_numba():
    code = (
        "import sys; from imapk.cli import main; rc = main(['run', %r, '--format', 'json']); "
        "sys.exit(rc or 7 * ('numba' in sys.modules) or 8 * ('scipy' in sys.modules))" % CASE
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, (done.returncode, done.stderr[-500:])


def test_uncompiled_small_work_equals_the_compiled_kernels_bit_for_bit():
    """The case report with an hourly curve and both thresholds: the interpreter (a fresh process without
    numba) and the compiled kernels (this test process) give the same bits for every array."""
    import json

    script = (
        "import json, sys; from imapk.scenario import run_scenario; ds = run_scenario(%r, as_dataset=False); "
        "assert 'numba' not in sys.modules; "
        "print(json.dumps({k: ds[k].values.tolist() for k in ('trough', 'concentration', 'time_below', "
        "'longest_below', 'peak_concentration')}))" % CASE
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-500:]
    interpreted = json.loads(done.stdout)
    import imapk.engine._numba as numba_glue
    from imapk.scenario import run_scenario

    numba_glue.INTERPRET_BELOW, saved = 0, numba_glue.INTERPRET_BELOW  # compiled even for one patient
    try:
        compiled = run_scenario(CASE, as_dataset=False)
    finally:
        numba_glue.INTERPRET_BELOW = saved
    for name, values in interpreted.items():
        np.testing.assert_array_equal(np.asarray(values), compiled[name].values, err_msg=name)
