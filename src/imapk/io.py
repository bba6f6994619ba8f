"""Writing and reading result Datasets.

NetCDF files are written to a temporary file in the target folder and then renamed over the final
name with :func:`os.replace`, which is atomic on POSIX and Windows: a crash leaves either the old
file or the complete new one, never a half-written file under the final name.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .errors import ImapkError

__all__ = ["write_netcdf", "read_netcdf", "set_default_permissions"]

ENGINE = "h5netcdf"


def write_netcdf(ds, path: str | Path) -> Path:
    """Write `ds` to NetCDF-4 at `path` atomically; return the path.

    Raises
    ------
    ImapkError
        If the folder does not exist or cannot be written.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise ImapkError("the output folder does not exist", source=str(path), got=str(folder))
    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=folder)
    except OSError as error:
        raise ImapkError(f"cannot write to the output folder: {error.strerror}", source=str(path)) from None
    os.close(handle)
    try:
        ds.to_netcdf(temporary, engine=ENGINE, invalid_netcdf=False)
        with open(temporary, "rb+") as written:
            os.fsync(written.fileno())
        set_default_permissions(temporary)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def set_default_permissions(path: str | Path) -> None:
    """Give a file made by :func:`tempfile.mkstemp` (mode 0600) the mode a plain ``open`` would: 0666 & ~umask."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def read_netcdf(path: str | Path):
    """Read a Dataset written by :func:`write_netcdf` (loaded into memory, file closed)."""
    import xarray as xr

    path = Path(path)
    if not path.is_file():
        raise ImapkError("no such result file", source=str(path))
    with xr.open_dataset(path, engine=ENGINE) as ds:
        return ds.load()
