"""Errors a user can fix: the command line prints their message in one line, exit code 1."""


class UserError(Exception):
    """The message says what went wrong and what to do about it."""


class DataError(UserError):
    """A dataset could not be found, downloaded, verified or parsed."""


class UnknownDatasetError(DataError):
    """The dataset name is not in the registry."""


class DataNotFoundError(DataError):
    """No local copy was found and the download failed (or was not allowed)."""


class ChecksumError(DataError):
    """A file's checksum (``actual``, hex) differs from the published one (``expected``)."""

    def __init__(self, message: str, *, expected: str, actual: str) -> None:
        super().__init__(message)
        self.expected, self.actual = expected, actual


class CorruptDataError(DataError):
    """A local copy is unusable: truncated archive, missing or empty file, wrong counts."""


class MalformedLineError(CorruptDataError):
    """A line (``line``: 1-based) of the file ``path`` has the wrong format (``problem``)."""

    def __init__(self, path: str, line: int, problem: str) -> None:
        super().__init__(f"{path}, line {line}: {problem}")
        self.path, self.line, self.problem = path, line, problem
