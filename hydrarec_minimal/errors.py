"""Errors a user can fix: the command line prints their message in one line, exit code 1."""


class UserError(Exception):
    """The message says what went wrong and what to do about it."""


class DataError(UserError):
    """A dataset could not be found, downloaded, verified or parsed."""


class UnknownDatasetError(DataError):
    """The dataset name is not in the registry (the message lists the known names)."""


class DataNotFoundError(DataError):
    """No local copy was found and the download failed (or was not allowed)."""


class ChecksumError(DataError):
    """A file's checksum differs from the published one (``expected``, ``actual``: hex)."""

    def __init__(self, message: str, *, expected: str, actual: str) -> None:
        super().__init__(message)
        self.expected = expected
        self.actual = actual


class CorruptDataError(DataError):
    """A local copy is unusable: truncated archive, missing or empty file, wrong counts."""


class MalformedLineError(CorruptDataError):
    """A line of a data file has the wrong format (``path``, ``line``: 1-based, ``problem``)."""

    def __init__(self, path: str, line: int, problem: str) -> None:
        super().__init__(f"{path}, line {line}: {problem}")
        self.path = path
        self.line = line
        self.problem = problem
