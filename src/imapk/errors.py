"""The exception family of imapk.

Every error a user can cause is an :class:`ImapkError`. Its message has the form
``<file>: <dotted.key>: <problem> (got X; expected Y)`` so that it can be printed as one line and
acted on without a traceback. The CLI prints that line to stderr and exits with status 2.
"""

from __future__ import annotations

__all__ = [
    "ImapkError",
    "ScenarioError",
    "ScheduleError",
    "ParameterError",
    "UnitError",
    "SimulationError",
    "OutputError",
    "format_message",
]


def format_message(
    problem: str,
    *,
    source: str | None = None,
    key: str | None = None,
    got: object = None,
    expected: str | None = None,
) -> str:
    """Build the one-line message ``<file>: <key>: <problem> (got X; expected Y)``.

    Parts that are ``None`` are left out.
    """
    prefix = "".join(f"{part}: " for part in (source, key) if part)
    details = []
    if got is not None:
        details.append(f"got {got!r}")
    if expected is not None:
        details.append(f"expected {expected}")
    suffix = f" ({'; '.join(details)})" if details else ""
    return f"{prefix}{problem}{suffix}"


class ImapkError(ValueError):
    """Base class of every error caused by input to imapk.

    Parameters
    ----------
    problem
        What is wrong, as a short sentence fragment.
    source
        The file the value came from, if any.
    key
        The dotted key of the value in that file (``schedule.holds[1].days``), if any.
    got
        The offending value.
    expected
        What would have been accepted.
    """

    def __init__(
        self,
        problem: str,
        *,
        source: str | None = None,
        key: str | None = None,
        got: object = None,
        expected: str | None = None,
    ) -> None:
        self.problem = problem
        self.source = source
        self.key = key
        self.got = got
        self.expected = expected
        super().__init__(format_message(problem, source=source, key=key, got=got, expected=expected))

    def located(self, source: str | None = None, key_prefix: str | None = None) -> "ImapkError":
        """Return a copy of this error with the file name and a key prefix filled in."""
        key = self.key
        if key_prefix:
            key = f"{key_prefix}.{key}" if key and not key.startswith("[") else f"{key_prefix}{key or ''}"
        return type(self)(
            self.problem,
            source=self.source or source,
            key=key,
            got=self.got,
            expected=self.expected,
        )


class ScenarioError(ImapkError):
    """A scenario file is malformed: bad TOML, unknown or missing keys, wrong types."""


class ScheduleError(ImapkError):
    """A dosing schedule is inconsistent: overlapping holds, negative doses, empty phases."""


class ParameterError(ImapkError):
    """A PK parameter is missing, unknown, non-finite or out of its physical range."""


class UnitError(ImapkError):
    """A quantity has no unit where one is required, an unknown unit, or the wrong dimension."""


class SimulationError(ImapkError):
    """The engine could not produce a trustworthy result for valid-looking input."""


class OutputError(ImapkError):
    """A result could not be written: the output folder is missing or read-only, or the disk is full."""
