"""Input files that are not files to read whole (folders, pipes, devices, huge files) and
scenario files whose bytes trip the reader (deep nesting, Latin-1, a byte order mark)."""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

import pytest

from imapk.errors import ScenarioError
from imapk.files import COVARIATE_MAX_BYTES, SCENARIO_MAX_BYTES, check_input_file, format_bytes, read_text
from imapk.population import read_covariate_csv
from imapk.scenario import load_scenario

from test_scenario import MINIMAL  # the same minimal scenario

needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes on this system")
needs_dev_zero = pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero on this system")


@contextlib.contextmanager
def no_hang(seconds: float = 10.0):
    """Fail, instead of waiting forever, if the body blocks (e.g. opening a pipe nobody writes to)."""
    if not hasattr(signal, "setitimer"):
        yield
        return

    def interrupt(signum, frame):
        raise TimeoutError(f"still blocked after {seconds} s")

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def sparse(path: Path, size: int) -> Path:
    """A file of `size` bytes that uses no disk blocks (a hole)."""
    with open(path, "wb") as handle:
        handle.truncate(size)
    return path


# ---------------------------------------------------------------- check_input_file


def test_check_input_file__regular_file_passes(tmp_path):
    path = tmp_path / "x.toml"
    path.write_text(MINIMAL)
    assert check_input_file(path, "scenario file", 1024).st_size == len(MINIMAL)


def test_check_input_file__link_to_a_regular_file_passes(tmp_path):
    (tmp_path / "x.toml").write_text(MINIMAL)
    (tmp_path / "link.toml").symlink_to(tmp_path / "x.toml")
    check_input_file(tmp_path / "link.toml", "scenario file", 1024)


def test_check_input_file__missing(tmp_path):
    path = tmp_path / "none.toml"
    with pytest.raises(ScenarioError) as info:
        check_input_file(path, "scenario file", 1024)
    assert str(info.value) == f"{path}: no such scenario file"


def test_check_input_file__folder(tmp_path):
    with pytest.raises(ScenarioError) as info:
        check_input_file(tmp_path, "covariate file", 1024)
    assert str(info.value) == f"{tmp_path}: cannot read the covariate file: it is a folder (expected a file)"


@needs_fifo
def test_check_input_file__fifo(tmp_path):
    path = tmp_path / "pipe.toml"
    os.mkfifo(path)
    with no_hang(), pytest.raises(ScenarioError) as info:
        check_input_file(path, "scenario file", 1024)
    assert str(info.value) == (
        f"{path}: cannot read the scenario file: it is a named pipe (FIFO) (expected a regular file)"
    )


@needs_dev_zero
def test_check_input_file__device():
    with no_hang(), pytest.raises(ScenarioError) as info:
        check_input_file("/dev/zero", "covariate file", COVARIATE_MAX_BYTES)
    assert str(info.value) == "/dev/zero: cannot read the covariate file: it is a character device (expected a regular file)"


def test_check_input_file__too_large_names_the_limit(tmp_path):
    path = sparse(tmp_path / "big.csv", 3 * 2**30)
    with pytest.raises(ScenarioError) as info:
        check_input_file(path, "covariate file", 256 * 2**20)
    assert str(info.value) == (
        f"{path}: cannot read the covariate file: it is larger than the 256 MiB limit "
        "(got '3 GiB'; expected a covariate file of at most 256 MiB)"
    )


def test_check_input_file__one_byte_over_is_shown_in_bytes(tmp_path):
    path = sparse(tmp_path / "big.toml", 2**20 + 1)
    with pytest.raises(ScenarioError, match=r"limit \(got '1048577 bytes'; expected a scenario file of at most 1 MiB\)$"):
        check_input_file(path, "scenario file", 2**20)
    check_input_file(sparse(tmp_path / "exact.toml", 2**20), "scenario file", 2**20)  # the limit itself is fine


def test_check_input_file__error_type_is_chosen_by_the_caller(tmp_path):
    class OtherError(ScenarioError):
        pass

    with pytest.raises(OtherError):
        check_input_file(tmp_path / "none", "sweep file", 1, error=OtherError)


@pytest.mark.parametrize(
    "size, shown",
    [(0, "0 bytes"), (1023, "1023 bytes"), (1024, "1 KiB"), (1536, "1.5 KiB"), (64 * 2**20, "64 MiB"), (2**40, "1 TiB")],
)
def test_format_bytes(size, shown):
    assert format_bytes(size) == shown


def test_limits_are_far_above_real_inputs():
    # A scenario is a few kB; 10**6 patients of covariates is about 100 MB.
    assert SCENARIO_MAX_BYTES >= 1000 * 4096
    assert COVARIATE_MAX_BYTES >= 2 * 100 * 10**6


# ---------------------------------------------------------------- the readers refuse before reading


@needs_fifo
def test_load_scenario__fifo_is_refused_not_waited_on(tmp_path):
    path = tmp_path / "pipe.toml"
    os.mkfifo(path)
    with no_hang(), pytest.raises(ScenarioError, match=r": cannot read the scenario file: it is a named pipe \(FIFO\)"):
        load_scenario(path)


@needs_fifo
def test_read_covariate_csv__fifo_is_refused_not_waited_on(tmp_path):
    path = tmp_path / "pipe.csv"
    os.mkfifo(path)
    with no_hang(), pytest.raises(ScenarioError, match=r": cannot read the covariate file: it is a named pipe \(FIFO\)"):
        read_covariate_csv(path)


@needs_dev_zero
@pytest.mark.parametrize("reader", [load_scenario, read_covariate_csv])
def test_readers__dev_zero_is_refused(reader):
    with no_hang(), pytest.raises(ScenarioError, match=r"^/dev/zero: cannot read the \w+ file: it is a character device"):
        reader("/dev/zero")


def test_load_scenario__larger_than_the_limit(tmp_path):
    path = sparse(tmp_path / "huge.toml", SCENARIO_MAX_BYTES + 1)
    with pytest.raises(ScenarioError, match=rf"^{path}: cannot read the scenario file: it is larger than the 8 MiB limit"):
        load_scenario(path)


def test_read_covariate_csv__larger_than_the_limit(tmp_path):
    path = sparse(tmp_path / "huge.csv", COVARIATE_MAX_BYTES + 1)
    with pytest.raises(ScenarioError, match=rf"^{path}: cannot read the covariate file: it is larger than the 256 MiB limit"):
        read_covariate_csv(path)


def test_read_covariate_csv__folder_and_missing_keep_their_messages(tmp_path):
    with pytest.raises(ScenarioError, match=r": cannot read the covariate file: it is a folder"):
        read_covariate_csv(tmp_path)
    with pytest.raises(ScenarioError, match=r": no such covariate file$"):
        read_covariate_csv(tmp_path / "none.csv")


def test_load_scenario__folder(tmp_path):
    with pytest.raises(ScenarioError, match=r": cannot read the scenario file: it is a folder"):
        load_scenario(tmp_path)


# ---------------------------------------------------------------- bytes that trip the reader


def test_load_scenario__deep_nesting_is_one_line(tmp_path):
    path = tmp_path / "deep.toml"
    path.write_text(MINIMAL + "[output]\nx = " + "[" * 5000 + "]" * 5000 + "\n", encoding="utf-8")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    message = str(info.value)
    assert message.startswith(f"{path}: not valid TOML: ") and "nested too deeply" in message
    assert "\n" not in message


def test_load_scenario__latin1_names_the_first_bad_byte(tmp_path):
    path = tmp_path / "latin1.toml"
    path.write_bytes(MINIMAL.replace('title = "t"', 'title = "Müller"').encode("latin-1"))
    offset = MINIMAL.index('"t"') + 2  # the ü, after '"M'
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert str(info.value) == (
        f"{path}: cannot read the file: it is not UTF-8 text (byte 0xfc at line 2, column 11; byte offset {offset}) "
        "(expected a TOML file saved as UTF-8)"
    )


def test_load_scenario__bad_byte_column_counts_characters_and_offset_counts_the_bom(tmp_path):
    path = tmp_path / "mixed.toml"
    text = MINIMAL.replace('title = "t"', 'title = "Ångström µ')
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8").replace("µ".encode("utf-8"), b"\xb5"))
    offset = 3 + text.encode("utf-8").index("µ".encode("utf-8"))
    with pytest.raises(ScenarioError, match=rf"\(byte 0xb5 at line 2, column 19; byte offset {offset}\)"):
        load_scenario(path)


def test_load_scenario__utf16_is_named(tmp_path):
    path = tmp_path / "utf16.toml"
    path.write_text(MINIMAL, encoding="utf-16")
    with pytest.raises(ScenarioError, match=r"not UTF-8 text \(byte 0xff at line 1, column 1; byte offset 0\) "
                       r"\(expected a TOML file saved as UTF-8, not UTF-16\)$"):
        load_scenario(path)


@pytest.mark.parametrize("nested", ["[" * 5000 + "]" * 5000, "{a = " * 5000 + "1" + "}" * 5000])
def test_load_scenario__deep_arrays_and_inline_tables(tmp_path, nested):
    path = tmp_path / "deep.toml"
    path.write_text(MINIMAL + "[output]\nx = " + nested + "\n", encoding="utf-8")
    with pytest.raises(ScenarioError, match=r"^\S+: not valid TOML: arrays or inline tables nested too deeply"):
        load_scenario(path)


def test_load_scenario__byte_order_mark_is_accepted(tmp_path):
    plain = tmp_path / "plain.toml"
    plain.write_text(MINIMAL, encoding="utf-8")
    marked = tmp_path / "marked.toml"
    marked.write_text(MINIMAL, encoding="utf-8-sig")
    assert marked.read_bytes().startswith(b"\xef\xbb\xbf")
    scenario = load_scenario(marked)
    assert scenario.text == MINIMAL
    assert scenario.title == load_scenario(plain).title == "t"


def test_load_scenario__netcdf_result_keeps_its_message(tmp_path):
    path = tmp_path / "result.toml"
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(range(128, 256)))
    with pytest.raises(ScenarioError, match=r": this is a result file \(NetCDF\), not a scenario"):
        load_scenario(path)


def test_load_scenario__large_netcdf_result_is_named_before_the_size_limit(tmp_path):
    path = tmp_path / "big-result.nc"
    with open(path, "wb") as handle:
        handle.write(b"\x89HDF\r\n\x1a\n")
        handle.truncate(SCENARIO_MAX_BYTES + 1)
    with pytest.raises(ScenarioError, match=r": this is a result file \(NetCDF\), not a scenario"):
        load_scenario(path)


# ---------------------------------------------------------------- read_text


def test_read_text__drops_a_byte_order_mark(tmp_path):
    path = tmp_path / "x.toml"
    path.write_bytes(b"\xef\xbb\xbfa = 1\n")
    assert read_text(path, "sweep file", 100) == "a = 1\n"


def test_read_text__names_the_format_of_the_file_kind(tmp_path):
    path = tmp_path / "x.csv"
    path.write_bytes(b"weight [kg]\n7\xb0\n")
    with pytest.raises(ScenarioError) as info:
        read_text(path, "covariate file", 100)
    assert str(info.value) == (
        f"{path}: cannot read the file: it is not UTF-8 text (byte 0xb0 at line 2, column 2; byte offset 13) "
        "(expected a CSV file saved as UTF-8)"
    )


def test_read_text__refuses_what_check_input_file_refuses(tmp_path):
    with pytest.raises(ScenarioError, match=r": cannot read the sweep file: it is larger than the 10 bytes limit"):
        read_text(sparse(tmp_path / "big.toml", 11), "sweep file", 10)
    with pytest.raises(ScenarioError, match=r": no such sweep file$"):
        read_text(tmp_path / "none.toml", "sweep file", 10)
