"""Checks on an input file before imapk reads it.

A path given as a scenario or a covariate file can name something that is not a file to read
whole: a folder, a named pipe (reading it waits for a writer that may never come), a device
(``/dev/zero`` never ends) or a file far larger than any input imapk reads (reading it whole
exhausts the memory before any message). :func:`check_input_file` refuses these from the file's
metadata alone, before a single byte is read, with one line naming the file and the problem.

The size limits are module constants, set far above any real input so that they only stop
mistakes (a wrong file, a device, a runaway export), never a legitimate use:

- a scenario is a few kB of TOML; :data:`SCENARIO_MAX_BYTES` (8 MiB) is over a thousand times
  that, and parsing that much TOML still takes only seconds;
- a covariate file has one short row per patient: 10^6 patients with a handful of columns is
  about 100 MB; :data:`COVARIATE_MAX_BYTES` (256 MiB) leaves room for several million patients
  while the rows read into memory stay within a few GB.
"""

from __future__ import annotations

import os
import stat
from .errors import ImapkError, ScenarioError

__all__ = [
    "check_input_file", "read_text", "refuse_result_file", "format_bytes", "SCENARIO_MAX_BYTES",
    "COVARIATE_MAX_BYTES", "HDF5_SIGNATURE",
]

#: The first bytes of an HDF5 file, and so of a NetCDF-4 result. (Classic NetCDF starts with "CDF".)
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"

#: Largest scenario (or sweep) file imapk reads. [bytes]
SCENARIO_MAX_BYTES = 8 * 2**20

#: Largest covariate CSV imapk reads. [bytes]
COVARIATE_MAX_BYTES = 256 * 2**20

_UTF8_BOM = b"\xef\xbb\xbf"

#: The format of each kind of text input, for the "not UTF-8" message.
_FORMATS = {"scenario file": "TOML file", "sweep file": "TOML file", "covariate file": "CSV file"}

#: What a path is, by the file type bits of its mode, for the kinds that are not regular files.
_KINDS = (
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def format_bytes(size: int) -> str:
    """A byte count in the unit a user reads: ``"512 bytes"``, ``"64 MiB"``, ``"1.5 GiB"``.

    Parameters
    ----------
    size
        Number of bytes, >= 0.

    Examples
    --------
    >>> format_bytes(256 * 2**20), format_bytes(2**30 + 1), format_bytes(100)
    ('256 MiB', '1 GiB', '100 bytes')
    """
    if size < 1024:
        return f"{size} bytes"
    value = float(size)
    for unit in ("KiB", "MiB", "GiB", "TiB", "PiB"):
        value /= 1024
        if value < 1024 or unit == "PiB":
            break
    return f"{value:.3g} {unit}"


def check_input_file(
    path: str | os.PathLike, what: str, max_bytes: int, *, error: type[ImapkError] = ScenarioError
) -> os.stat_result:
    """Refuse, before any read, a path that is not a regular file of at most `max_bytes`.

    Symbolic links are followed: a link to a regular file is fine.

    Parameters
    ----------
    path
        The file to check.
    what
        What the file is, as the user would say it (``"scenario file"``, ``"covariate file"``);
        it appears in the messages.
    max_bytes
        Largest accepted size. [bytes]
    error
        The :class:`~imapk.errors.ImapkError` subclass to raise.

    Returns
    -------
    os.stat_result
        The metadata the decision was made on.

    Raises
    ------
    ImapkError
        (of type `error`) if the path does not exist, is a folder, is not a regular file (a named
        pipe, a device, a socket) or is larger than `max_bytes`. The message is one line naming
        the file.
    """
    source = os.fspath(path)
    try:
        info = os.stat(source)
    except FileNotFoundError:
        raise error(f"no such {what}", source=source) from None
    except OSError as failure:  # permission denied on a parent folder, a name too long, a link loop
        raise error(f"cannot read the {what}: {failure.strerror or failure}", source=source) from None
    mode = info.st_mode
    if stat.S_ISDIR(mode):
        raise error(f"cannot read the {what}: it is a folder", source=source, expected="a file")
    if not stat.S_ISREG(mode):
        kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
        raise error(f"cannot read the {what}: it is {kind}", source=source, expected="a regular file")
    if info.st_size > max_bytes:
        size = format_bytes(info.st_size)
        if size == format_bytes(max_bytes):  # just over the limit: "256 MiB" would read as equal to it
            size = f"{info.st_size} bytes"
        raise error(
            f"cannot read the {what}: it is larger than the {format_bytes(max_bytes)} limit",
            source=source,
            got=size,
            expected=f"a {what} of at most {format_bytes(max_bytes)}",
        )
    return info


def read_text(
    path: str | os.PathLike, what: str, max_bytes: int, *, error: type[ImapkError] = ScenarioError
) -> str:
    """The UTF-8 text of the input file at `path`, checked by :func:`check_input_file` first.

    A UTF-8 byte order mark (editors' and spreadsheets' "UTF-8 with BOM") is dropped. At most
    `max_bytes` are read even if the file grows after the check.

    Parameters
    ----------
    path
        The file to read.
    what
        What the file is, as the user would say it (``"scenario file"``); it appears in the messages.
    max_bytes
        Largest accepted size. [bytes]
    error
        The :class:`~imapk.errors.ImapkError` subclass to raise.

    Raises
    ------
    ImapkError
        (of type `error`) for everything :func:`check_input_file` refuses, a file that cannot be
        read, and text that is not UTF-8: the message gives the first bad byte, its line and
        column (in characters) and its byte offset in the file, and names UTF-16.
    """
    source = os.fspath(path)
    check_input_file(path, what, max_bytes, error=error)
    try:
        with open(source, "rb") as handle:
            raw = handle.read(max_bytes + 1)
    except OSError as failure:
        raise error(f"cannot read the file: {failure.strerror or failure}", source=source) from None
    if len(raw) > max_bytes:  # it grew after the check
        raise error(f"cannot read the {what}: it is larger than the {format_bytes(max_bytes)} limit", source=source)
    bom = _UTF8_BOM if raw.startswith(_UTF8_BOM) else b""
    try:
        return raw[len(bom):].decode("utf-8")
    except UnicodeDecodeError as failure:
        offset = len(bom) + failure.start  # of the first bad byte, in the file
        line_start = max(raw.rfind(b"\n", 0, offset) + 1, len(bom))
        line = raw.count(b"\n", 0, offset) + 1
        column = len(raw[line_start:offset].decode("utf-8")) + 1  # in characters, as an editor counts
        utf16 = raw.startswith((b"\xff\xfe", b"\xfe\xff"))
        raise error(
            f"cannot read the file: it is not UTF-8 text (byte 0x{raw[offset]:02x} at line {line}, column {column}; "
            f"byte offset {offset})",
            source=source,
            expected=f"a {_FORMATS.get(what, 'text file')} saved as UTF-8" + (", not UTF-16" if utf16 else ""),
        ) from None


def refuse_result_file(path: str | os.PathLike, error: type[ImapkError] = ScenarioError, what: str = "scenario",
                       expected: str = "a scenario .toml") -> None:
    """Raise `error` if `path` holds a NetCDF result (HDF5 or classic signature) where a `what` (a
    scenario, a sweep file, a data set) belongs, naming it as such with the commands to use instead."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(len(HDF5_SIGNATURE))
    except OSError:
        return  # the reader that follows says why it cannot read the file
    if head == HDF5_SIGNATURE or head[:3] == b"CDF":
        raise error(
            f"this is a result file (NetCDF), not a {what}", source=os.fspath(path),
            expected=f"{expected}; `imapk rerun {os.fspath(path)} -o NEW.nc` reruns the scenario it records, "
            f"`imapk plot {os.fspath(path)} -o FIG.png` draws it",
        )
