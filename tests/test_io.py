"""Atomic NetCDF writes."""

import os

import numpy as np
import pytest

import imapk
from imapk.io import read_netcdf, write_netcdf
from imapk.schedule import Phase, Schedule


@pytest.fixture
def small_result():
    return imapk.simulate(Schedule(phases=(Phase(dose=400, days=3),)), imapk.PKParams(cl=14.3, v=347.0, ka=0.609))


def test_write_netcdf__round_trip(small_result, tmp_path):
    path = write_netcdf(small_result, tmp_path / "r.nc")
    back = read_netcdf(path)
    np.testing.assert_array_equal(back["trough"].values, small_result["trough"].values)
    assert back["trough"].attrs["units"] == "ng/mL"
    assert list(back["dose_status"].values) == ["given"] * 3


def test_write_netcdf__crash_leaves_old_file_and_no_partial(small_result, tmp_path, monkeypatch):
    target = tmp_path / "r.nc"
    target.write_bytes(b"previous complete result")

    def crash(self, path, *args, **kwargs):
        with open(path, "wb") as handle:
            handle.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(type(small_result), "to_netcdf", crash)
    with pytest.raises(OSError, match="disk full"):
        write_netcdf(small_result, target)
    assert target.read_bytes() == b"previous complete result"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.nc"]


def test_write_netcdf__killed_writer_never_leaves_final_name(small_result, tmp_path):
    """A process killed with SIGKILL in the middle of the write leaves no file under the final name."""
    import signal
    import subprocess
    import sys

    target = tmp_path / "killed.nc"
    code = (
        "import os, signal, xarray as xr\n"
        "import imapk\n"
        "from imapk.io import write_netcdf\n"
        "from imapk.schedule import Schedule, Phase\n"
        "ds = imapk.simulate(Schedule(phases=(Phase(dose=400, days=3),)), imapk.PKParams(cl=14.3, v=347.0, ka=0.609))\n"
        "real = xr.Dataset.to_netcdf\n"
        "def dying(self, path, *a, **k):\n"
        "    real(self, path, *a, **k)\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
        "xr.Dataset.to_netcdf = dying\n"
        f"write_netcdf(ds, {str(target)!r})\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True)
    assert result.returncode == -signal.SIGKILL
    assert not target.exists()


def test_read_netcdf__missing(tmp_path):
    with pytest.raises(imapk.ImapkError, match="no such result file"):
        read_netcdf(tmp_path / "none.nc")


def test_write_netcdf__ordinary_permissions(small_result, tmp_path):
    # mkstemp makes 0600 files; the result must get the mode a plain open() would give it.
    umask = os.umask(0o022)
    try:
        path = write_netcdf(small_result, tmp_path / "r.nc")
    finally:
        os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o644
