"""Writing and reading result Datasets.

NetCDF files are written to a temporary file in the target folder and then renamed over the final
name with :func:`os.replace`, which is atomic on POSIX and Windows: a crash leaves either the old
file or the complete new one, never a half-written file under the final name.

Temporary files are named ``.<name>.imapk-<host>-<pid>-<random>.part`` beside the target
``<name>``: the name says which target, machine and process they belong to. A write that fails (a
full disk, a read-only folder) removes its temporary file and raises :class:`OutputError` with one
line. A process that is killed cannot clean up; the next write to the same target on the same
machine removes such leftovers: files with exactly that naming for that target and this machine,
whose process no longer runs and that were last modified before this process loaded imapk's
writer. A write in progress is never touched (its process runs), files of other machines sharing
the folder are left to them, and nothing else in the folder is ever removed. (On systems without
POSIX process signals, i.e. Windows, leftovers are kept.)
"""

from __future__ import annotations

import errno
import os
import re
import socket
import stat
import sys
import tempfile
import time
from pathlib import Path

from .errors import ImapkError, OutputError
from .files import format_bytes

__all__ = [
    "write_netcdf", "read_netcdf", "read_netcdf_view", "read_zarr_view", "set_default_permissions",
    "remove_stale_temporaries", "OutputError",
]

ENGINE = "h5netcdf"

#: When this process loaded the writer: a temporary file it makes is never older. [s since the epoch]
_LOADED = time.time()

#: This machine in temporary file names (only characters that are safe in a file name).
_HOST = re.sub(r"[^A-Za-z0-9._]", "_", socket.gethostname())[:64] or "localhost"

#: Free space beyond twice a result's data under which the file is built in memory first. [bytes]
ROOM_MARGIN_BYTES = 64 * 2**20

#: Largest single write of a file built in memory. [bytes]
_WRITE_CHUNK = 16 * 2**20

#: Errors of a full file system, by errno, and how to say them (EDQUOT does not exist everywhere).
_NO_ROOM = {
    errno.ENOSPC: "no space left on {folder}",
    getattr(errno, "EDQUOT", errno.ENOSPC): "disk quota exceeded on {folder}",
    errno.EFBIG: "the result is larger than the file system of {folder} allows",
}


def write_netcdf(ds, path: str | Path) -> Path:
    """Write `ds` to NetCDF-4 at `path` atomically; return the path.

    The Dataset goes to a temporary file in the target folder, which is flushed to disk (fsync)
    and renamed over `path`. Leftover temporary files of earlier killed writes to the same target
    are removed first (see :func:`remove_stale_temporaries`).

    Where the folder's file system has room for twice the result's data and
    :data:`ROOM_MARGIN_BYTES` more, HDF5 writes the file directly. Where it is nearly full, the
    file is built in memory and written by imapk itself: HDF5 (2.0, through h5py 3.16) can crash
    the process when a write fails in the middle of its metadata, so it never meets a full disk
    there (the price is a copy of the file in memory). A result whose data alone exceed the free
    space is refused before anything is written.

    Raises
    ------
    OutputError
        If the folder does not exist or cannot be written, or the file system is full or over
        quota (``<path>: no space left on <folder>...``). The temporary file is removed and
        `path` is left as it was.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise OutputError("the output folder does not exist", source=str(path), got=str(folder))
    remove_stale_temporaries(path)
    size = _data_bytes(ds)
    free, available = _free_bytes(folder)
    if free is not None and free < size:
        raise OutputError(
            f"no space left on {os.path.abspath(folder)}", source=str(path), got=f"{format_bytes(free)} free",
            expected=f"at least {format_bytes(size)} for this result",
        )
    in_memory = available is None or available < 2 * size + ROOM_MARGIN_BYTES
    try:
        handle, temporary = tempfile.mkstemp(
            prefix=f".{path.name}.imapk-{_HOST}-{os.getpid()}-", suffix=".part", dir=folder
        )
    except OSError as error:
        if error.errno in _NO_ROOM:
            raise _write_error(error, path, folder) from None
        raise OutputError(f"cannot write to the output folder: {error.strerror}", source=str(path)) from None
    try:
        if in_memory:
            try:
                _write_all(handle, ds.to_netcdf(engine=ENGINE, invalid_netcdf=False))
                os.fsync(handle)
            finally:
                os.close(handle)
        else:
            os.close(handle)
            try:
                ds.to_netcdf(temporary, engine=ENGINE, invalid_netcdf=False)
            except BaseException as error:
                _forget_failed_files(error)
                raise
            with open(temporary, "rb+") as written:
                os.fsync(written.fileno())
        set_default_permissions(temporary)
        os.replace(temporary, path)
    except OSError as error:
        Path(temporary).unlink(missing_ok=True)
        if error.errno is None:  # not from the operating system: not an output problem
            raise
        raise _write_error(error, path, folder) from None
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def _data_bytes(ds) -> int:
    """The bytes of the numeric arrays of `ds`: a lower bound of its uncompressed NetCDF file."""
    return sum(v.nbytes for v in ds.variables.values() if v.dtype.kind in "biufcmM")


def _free_bytes(folder: Path) -> tuple[int | None, int | None]:
    """(free, available) bytes on the file system of `folder`: free counts the blocks reserved
    for the administrator, available does not; (None, None) if the system cannot tell."""
    try:
        if hasattr(os, "statvfs"):
            info = os.statvfs(folder)
            return info.f_bfree * info.f_frsize, info.f_bavail * info.f_frsize
        import shutil

        free = shutil.disk_usage(folder).free
        return free, free
    except OSError:
        return None, None


def _write_all(handle: int, data) -> None:
    """Write all of `data` (bytes or a memoryview) to the open file descriptor `handle`."""
    view = memoryview(data).cast("B")
    while view:
        written = os.write(handle, view[:_WRITE_CHUNK])
        view = view[written:]


def _write_error(error: OSError, path: Path, folder: Path) -> OutputError:
    """The one-line error for an operating-system failure while writing `path`."""
    where = os.path.abspath(folder)
    if error.errno in _NO_ROOM:
        return OutputError(
            f"{_NO_ROOM[error.errno].format(folder=where)}; the partial result was removed",
            source=str(path),
            expected="more free space there, or another output folder",
        )
    # os.strerror, not error.strerror: HDF5's text spans several lines (time, descriptor, buffer...).
    return OutputError(f"cannot write the result: {os.strerror(error.errno)}", source=str(path))


def _forget_failed_files(error: BaseException) -> None:
    """Stop h5netcdf from closing a second time a file whose close failed.

    h5netcdf's ``File.__del__`` is its ``close()``. When the close fails (a full disk while the
    metadata are flushed), the object stays marked open and the garbage collector later closes it
    again, on an HDF5 file left in an undefined state: a segmentation fault. HDF5 has already
    released the file descriptor by then. The failed File objects are found in the frames of the
    exception's traceback (and those of the exceptions it was raised during) and marked closed.
    """
    h5netcdf = sys.modules.get("h5netcdf")
    if h5netcdf is None or not isinstance(getattr(h5netcdf, "File", None), type):
        return
    pending, seen = [error], set()
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        frame = current.__traceback__
        while frame is not None:
            for value in list(frame.tb_frame.f_locals.values()):
                if isinstance(value, h5netcdf.File) and vars(value).get("_closed") is False:
                    value._closed = True
            frame = frame.tb_next
        pending.extend((current.__context__, current.__cause__))


def _temporary_pattern(path: Path) -> re.Pattern:
    """The names :func:`write_netcdf` on this machine gives its temporary files for the target `path`;
    group 1 is the pid."""
    return re.compile(rf"\.{re.escape(path.name)}\.imapk-{re.escape(_HOST)}-([1-9][0-9]*)-[a-z0-9_]{{8}}\.part")


def _running(pid: int) -> bool:
    """True if a process `pid` exists on this machine (or cannot be asked about)."""
    try:
        os.kill(pid, 0)  # signal 0: existence check only, nothing is sent
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it exists and belongs to someone else
        return True
    return True


def remove_stale_temporaries(path: str | Path) -> list[Path]:
    """Remove temporary files that killed writes to `path` left behind; return the removed paths.

    Only files named as :func:`write_netcdf` on this machine names its temporary files for this
    very target, that are regular files (not links), whose writing process no longer runs and
    that were last modified before this process loaded the writer. Nothing is removed on systems without POSIX
    signals (Windows), where a process cannot be asked whether it runs.
    """
    path = Path(path)
    if os.name != "posix":
        return []
    folder = path.parent if str(path.parent) else Path(".")
    pattern = _temporary_pattern(path)
    removed = []
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    for name in names:
        match = pattern.fullmatch(name)
        if match is None:
            continue
        pid = int(match.group(1))
        candidate = folder / name
        try:
            info = candidate.lstat()
        except OSError:
            continue
        if not stat.S_ISREG(info.st_mode) or info.st_mtime >= _LOADED or pid == os.getpid() or _running(pid):
            continue
        try:
            candidate.unlink()
        except OSError:  # gone meanwhile, or not ours to remove: leave it
            continue
        removed.append(candidate)
    return removed


def plain_value(value):
    """A numpy scalar (or 0-d array) as the Python value JSON and CSV write; anything else unchanged
    (NaN stays NaN)."""
    return value.item() if hasattr(value, "item") else value


def spreadsheet_safe(value):
    """A text cell that a spreadsheet would run as a formula (=, +, -, @, tab, carriage return
    first) gets a leading apostrophe, as OWASP's CSV-injection advice and spreadsheet tools
    expect; numbers are left alone."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def write_csv(path: str | Path, header: list[str], rows) -> Path:
    """Write a table as CSV, atomically (a temporary file beside `path`, then a rename), with every
    text cell made :func:`spreadsheet_safe`. `rows` are sequences in the order of `header`."""
    import csv

    path = Path(path)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", newline="") as stream:
            writer = csv.writer(stream)
            writer.writerow(header)
            writer.writerows([spreadsheet_safe(value) for value in row] for row in rows)
        set_default_permissions(temporary)
        os.replace(temporary, path)
    except OSError as error:
        raise _write_error(error, path, path.parent) from None
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return path


def set_default_permissions(path: str | Path) -> None:
    """Give a file made by :func:`tempfile.mkstemp` (mode 0600) the mode a plain ``open`` would: 0666 & ~umask."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def _check_hdf5_metadata(path: Path) -> bool:
    """Open the file with h5py and read every object's attributes: damaged metadata raises here,
    cleanly, instead of inside h5netcdf, whose half-built File then fails again when it is collected
    (an "Exception ignored in File.close" after the one-line error).

    Returns True if a variable needs xarray's CF decoding (see :func:`imapk.result_view.needs_xarray`).
    """
    import h5py

    from .result_view import needs_xarray

    decoded = []

    def visit(name, item):
        attrs = dict(item.attrs)
        if isinstance(item, h5py.Dataset) and needs_xarray(attrs):
            decoded.append(name)

    with h5py.File(path, "r") as handle:
        dict(handle.attrs)
        handle.visititems(visit)
    return bool(decoded)


def _check_result_file(path: Path) -> None:
    """Refuse a missing path, a folder, a non-regular file (a named pipe is not waited on) or a file
    without the HDF5 signature, each with one line."""
    from .files import HDF5_SIGNATURE, check_input_file

    # No size limit: a result is as large as the run that made it, and it is read lazily by HDF5.
    check_input_file(path, "result file", sys.maxsize, error=ImapkError)
    with open(path, "rb") as handle:  # HDF5's own error for another format is not a sentence
        signature = handle.read(8)
    if signature != HDF5_SIGNATURE:
        raise ImapkError("not a NetCDF-4 result (no HDF5 signature)", source=str(path),
                         expected="a .nc file written by `imapk run -o` or `imapk rerun`")


def _unreadable(error: Exception, path: Path, what: str = "result") -> ImapkError:
    """The one-line error for a file that h5py, h5netcdf, zarr or xarray cannot read."""
    message = str(error).strip("'\"") or type(error).__name__
    return ImapkError(f"cannot read the {what} (damaged, or not written by imapk): {message}", source=str(path))


def read_netcdf(path: str | Path):
    """Read a Dataset written by :func:`write_netcdf` (loaded into memory, file closed).

    Raises
    ------
    ImapkError
        If `path` is missing, a folder or not a regular file (a named pipe is refused, not waited on),
        not an HDF5/NetCDF-4 file, or damaged.
    """
    import xarray as xr

    path = Path(path)
    _check_result_file(path)
    try:
        _check_hdf5_metadata(path)
        with xr.open_dataset(path, engine=ENGINE) as ds:
            return ds.load()
    except Exception as error:  # noqa: BLE001 - a damaged file fails anywhere in h5py/h5netcdf/xarray
        # (OSError, KeyError 'incorrect metadata checksum', ValueError ...): the file, not imapk
        raise _unreadable(error, path) from None


def read_netcdf_view(path: str | Path):
    """Open a result written by :func:`write_netcdf` for drawing, without importing xarray.

    Returns a :class:`imapk.result_view.ResultView` (numpy arrays by name, read on first use; the
    file stays open until it is closed, e.g. at the end of a ``with`` block), or, for a file with
    a variable that needs CF decoding beyond a NaN fill value (not written by imapk), the Dataset
    of :func:`read_netcdf`. Both have the same values, and what :mod:`imapk.plot` draws from.

    Raises
    ------
    ImapkError
        As :func:`read_netcdf`; a variable damaged in its data is found when it is read.
    """
    path = Path(path)
    _check_result_file(path)
    try:
        decoded = _check_hdf5_metadata(path)
    except Exception as error:  # noqa: BLE001 - as in read_netcdf
        raise _unreadable(error, path) from None
    if decoded:
        return read_netcdf(path)
    import h5netcdf

    from .result_view import ResultView, _NetcdfFile

    try:
        handle = h5netcdf.File(path, "r", decode_vlen_strings=True)
    except Exception as error:  # noqa: BLE001 - as in read_netcdf
        raise _unreadable(error, path) from None
    try:
        return ResultView(_NetcdfFile(path, handle))
    except Exception as error:  # noqa: BLE001 - as in read_netcdf
        handle.close()
        raise _unreadable(error, path) from None


def read_zarr_view(path: str | Path):
    """Open a Zarr store written by xarray (a sweep store) for drawing, without importing xarray.

    Returns a :class:`imapk.result_view.ResultView` of its arrays (read on first use), or None if
    an array needs decoding that only xarray does (see :func:`imapk.result_view.zarr_needs_xarray`).
    The store is not checked as a sweep: :func:`imapk.sweep.open_sweep` does that.

    Raises
    ------
    ImapkError
        If zarr cannot open the store or read its metadata.
    """
    import zarr

    from .result_view import ResultView, _ZarrStore, zarr_needs_xarray

    path = Path(path)
    try:
        group = zarr.open_group(str(path), mode="r")
        if zarr_needs_xarray(group):
            return None
        return ResultView(_ZarrStore(path, group))
    except Exception as error:  # noqa: BLE001 - a damaged store fails anywhere in zarr
        raise _unreadable(error, path, "sweep store") from None
