"""MovieLens: where it comes from, how it is found, verified and parsed.

The registry (``REGISTRY``) describes each official archive: its GroupLens URL, published
checksum, size, the files inside and the format of each. ``load_movielens(name)`` turns an
archive into an ``InteractionData`` (a ratings table plus item metadata), looking for the files
in this order and stopping at the first place that has them:

1. the folder named by the environment variable ``HYDRAREC_DATA``: either the extracted folder
   (``$HYDRAREC_DATA/ml-100k/u.data``, ...) or the archive (``$HYDRAREC_DATA/ml-100k.zip``);
   ``HYDRAREC_DATA`` may also be the extracted folder itself (``.../ml-100k``);
2. the user cache, ``$XDG_CACHE_HOME/hydrarec`` (default ``~/.cache/hydrarec``), same layout;
3. a download into the cache (``download_archive``, with pooch): from GroupLens, then from each
   base URL in ``HYDRAREC_MIRRORS`` (space-separated; the archive name is appended). Each file
   goes to a temporary file with a progress bar, is checked against the published checksum and
   only then renamed into place, so a wrong, tampered or cut-short file is never kept.

The published checksum, not the server's TLS certificate, is what is trusted: a source whose
certificate cannot be verified (e.g. expired) is tried again without verification, says so in
one line, and its file is kept only if the checksum matches. Transient failures are retried a
few times with a short back-off (``DOWNLOAD_POLICY``); if every source fails, the error names
each source and why it failed.

Nothing here prompts. A broken copy in ``HYDRAREC_DATA`` is an error (it is never silently
skipped or deleted: the message says what is wrong and how to fix it).

Verification: archives are checked against their checksum (sha256 or md5, whichever GroupLens
or others published); files of an extracted folder are checked against sha256 sums where the
registry knows them; and every official dataset is checked against its known counts (ML-100K:
100,000 ratings by 943 users on 1,682 items). A malformed line is reported with file and line;
a file that is not text (binary garbage) with its first bad byte.

Every error is a ``DataError``, a ``hydrarec_minimal.errors.UserError``: the command line prints
its one-line message without a traceback.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import ssl
import sys
import time
import warnings
import zipfile
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pandas as pd
import pooch
import requests
import urllib3
from tqdm import tqdm

from hydrarec_minimal.errors import UserError

DATA_ENV = "HYDRAREC_DATA"
"""Environment variable: a folder holding MovieLens archives or extracted folders."""

# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


class DataError(UserError):
    """A dataset could not be found, downloaded, verified or parsed."""


class UnknownDatasetError(DataError):
    """The dataset name is not in the registry (the message lists the known names)."""


class DataNotFoundError(DataError):
    """No local copy was found and the download failed (or was not allowed)."""


class ChecksumError(DataError):
    """A file's checksum differs from the published one (``expected`` and ``actual`` hex)."""

    def __init__(self, message: str, *, expected: str, actual: str) -> None:
        super().__init__(message)
        self.expected = expected
        self.actual = actual


class CorruptDataError(DataError):
    """A local copy is unusable: truncated archive, missing file, empty file, wrong counts."""


class MalformedLineError(CorruptDataError):
    """A line of a data file does not have the expected format (``path``, ``line``: 1-based)."""

    def __init__(self, path: str, line: int, problem: str) -> None:
        super().__init__(f"{path}, line {line}: {problem}")
        self.path = path
        self.line = line
        self.problem = problem


# --------------------------------------------------------------------------------------------
# The registry
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Checksum:
    """A published checksum: ``algorithm`` is a ``hashlib`` name ("sha256", "md5")."""

    algorithm: str
    hexdigest: str

    def __str__(self) -> str:
        return f"{self.algorithm} {self.hexdigest}"


@dataclass(frozen=True)
class ExpectedCounts:
    """What an official copy must contain: ratings, distinct users and items, catalogue size."""

    interactions: int
    users: int
    items: int
    catalogue: int  # rows of the item metadata file (it lists some movies nobody rated)


@dataclass(frozen=True)
class DatasetSpec:
    """Everything needed to fetch, verify and parse one dataset.

    ``folder`` is the name of the extracted folder (and of the folder inside the archive);
    ``ratings_format`` / ``items_format`` are keys of ``RATINGS_FORMATS`` / ``ITEMS_FORMATS``.
    ``checksum`` is the archive's published checksum (None: not verified, e.g. for your own
    test data); ``file_sha256`` checks files of an extracted folder where their sums are known;
    ``expected`` (None: not checked) are the counts an official copy must have.
    """

    name: str
    title: str
    url: str
    checksum: Checksum | None
    size_bytes: int | None
    folder: str
    ratings_file: str
    items_file: str
    ratings_format: str
    items_format: str
    expected: ExpectedCounts | None = None
    file_sha256: Mapping[str, str] = field(default_factory=dict)

    @property
    def archive_name(self) -> str:
        """File name of the archive, e.g. ``ml-100k.zip``."""
        return Path(self.url).name

    @property
    def members(self) -> tuple[str, str]:
        """The files this package reads: (ratings file, item metadata file)."""
        return (self.ratings_file, self.items_file)


_GROUPLENS = "https://files.grouplens.org/datasets/movielens"

REGISTRY: dict[str, DatasetSpec] = {
    "ml-100k": DatasetSpec(
        name="ml-100k",
        title="MovieLens 100K (1998)",
        url=f"{_GROUPLENS}/ml-100k.zip",
        checksum=Checksum(
            "sha256", "50d2a982c66986937beb9ffb3aa76efe955bf3d5c6b761f4e3a7cd717c6a3229"
        ),
        size_bytes=4_924_029,
        folder="ml-100k",
        ratings_file="u.data",
        items_file="u.item",
        ratings_format="u.data",
        items_format="u.item",
        expected=ExpectedCounts(interactions=100_000, users=943, items=1_682, catalogue=1_682),
        file_sha256={
            "u.data": "06416e597f82b7342361e41163890c81036900f418ad91315590814211dca490",
            "u.item": "553841ebc7de3a0fd0d6b62a204ea30c1e651aacfb2814c7a6584ac52f2c5701",
        },
    ),
    "ml-1m": DatasetSpec(
        name="ml-1m",
        title="MovieLens 1M (2003)",
        url=f"{_GROUPLENS}/ml-1m.zip",
        checksum=Checksum(
            "sha256", "a6898adb50b9ca05aa231689da44c217cb524e7ebd39d264c56e2832f2c54e20"
        ),
        size_bytes=5_917_549,  # as published; only shown in messages, never used as a check
        folder="ml-1m",
        ratings_file="ratings.dat",
        items_file="movies.dat",
        ratings_format="ratings.dat",
        items_format="movies.dat",
        expected=ExpectedCounts(interactions=1_000_209, users=6_040, items=3_706, catalogue=3_883),
        file_sha256={
            "movies.dat": "0140fc2356357c1a851d0f52e893a1e4d3696df632c4141cea8d5bc3d621f0b9",
        },
    ),
    "ml-20m": DatasetSpec(
        name="ml-20m",
        title="MovieLens 20M (2015)",
        url=f"{_GROUPLENS}/ml-20m.zip",
        # GroupLens publishes an md5 (ml-20m.zip.md5); no sha256 is published.
        checksum=Checksum("md5", "cd245b17a1ae2cc31bb14903e1204af3"),
        size_bytes=198_702_078,  # as published; only shown in messages, never used as a check
        folder="ml-20m",
        ratings_file="ratings.csv",
        items_file="movies.csv",
        ratings_format="ratings.csv",
        items_format="movies.csv",
        expected=ExpectedCounts(
            interactions=20_000_263, users=138_493, items=26_744, catalogue=27_278
        ),
    ),
}


def get_spec(dataset: str | DatasetSpec) -> DatasetSpec:
    """The registry entry for ``dataset`` (a spec is returned as is)."""
    if isinstance(dataset, DatasetSpec):
        return dataset
    try:
        return REGISTRY[dataset]
    except KeyError:
        known = ", ".join(REGISTRY)
        raise UnknownDatasetError(f"unknown dataset {dataset!r}; known datasets: {known}") from None


# --------------------------------------------------------------------------------------------
# The table every loader returns
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class InteractionData:
    """A dataset as loaded, before any sequence building (original ids throughout).

    ``interactions``: one row per rating, columns ``user_id`` (int64), ``item_id`` (int64),
    ``rating`` (float32) and ``timestamp`` (int64, unix seconds), in file order.
    ``items``: one row per catalogue item, columns ``item_id`` (int64), ``title`` (str, as
    spelled in the file), ``year`` (int64, 0 = unknown) and ``genres`` (tuple of str).
    ``location``: where the files were found, for people to read.
    """

    name: str
    interactions: pd.DataFrame
    items: pd.DataFrame
    location: str


# --------------------------------------------------------------------------------------------
# Parsers: ratings (vectorised, pandas' C engine) and item metadata (a plain loop, small files)
# --------------------------------------------------------------------------------------------

RATING_COLUMNS = ("user_id", "item_id", "rating", "timestamp")


def _malformed_field_count(data: bytes, sep: bytes, fields: int, skip: int) -> int:
    """1-based line number of the first line after ``skip`` lines without ``fields`` fields."""
    for number, line in enumerate(data.split(b"\n"), start=1):
        if number > skip and line.rstrip(b"\r").count(sep) != fields - 1:
            return number
    return skip + 1  # not reached for data that pandas refused


#: Bytes that are never in a ratings file (numbers, separators and newlines: plain ASCII).
_NOT_RATINGS_TEXT = re.compile(rb"[\x00\x80-\xff]")
#: Control bytes that are in no MovieLens text file (all but tab, line feed, carriage return).
_CONTROL_BYTES = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _not_text_error(data: bytes, position: int, where: str, kind: str) -> CorruptDataError:
    """The error for a file whose byte at ``position`` shows it is not a ``kind`` file."""
    line = data.count(b"\n", 0, position) + 1
    return CorruptDataError(
        f"{where} is not a {kind}: its byte 0x{data[position]:02x} on line {line} is not text "
        f"(the file is damaged, or it is another file under this name)"
    )


def _check_ratings_text(data: bytes, where: str) -> None:
    """``CorruptDataError`` unless ``data`` is plain ASCII without NUL bytes (e.g. binary garbage).

    The usual case costs two fast scans (ML-20M's ratings are half a gigabyte); only a file
    that fails them is searched for its first bad byte.
    """
    if data.isascii() and b"\x00" not in data:
        return
    match = _NOT_RATINGS_TEXT.search(data)
    assert match is not None
    raise _not_text_error(data, match.start(), where, "text ratings file")


def _parse_rating_table(
    data: bytes, where: str, sep: str, header: str | None, shown_sep: str | None = None
) -> pd.DataFrame:
    """Parse ``user, item, rating, timestamp`` lines; every malformed line is an error.

    Rows map one to one onto lines (blank lines are kept as empty rows, then rejected), so a
    bad row's index gives its line number. One newline at the end of the file is expected; more
    are fine. ``shown_sep`` is the separator as the file spells it, for messages. The checks
    avoid copying ``data`` (ML-20M's ratings are half a gigabyte).
    """
    shown = repr(shown_sep or sep)
    if not data or data.isspace():
        raise CorruptDataError(f"{where} is empty: it should hold one rating per line")
    _check_ratings_text(data, where)
    end = len(data)
    while end and data[end - 1] in b"\r\n":
        end -= 1
    if data.count(b"\n", end) > 1:  # several newlines at the end: drop the blank lines
        data = data[:end] + b"\n"
    skip = 0
    if header is not None:
        newline = data.find(b"\n", 0, 4096)
        first = data[: newline if newline >= 0 else 4096]
        if first.rstrip(b"\r").decode("latin-1") != header:
            raise MalformedLineError(where, 1, f"expected the header {header!r}")
        if data.find(b"\n") in (-1, end):
            raise CorruptDataError(f"{where} is empty: it has a header but no ratings")
        skip = 1
    with warnings.catch_warnings():
        # Too many fields on the first line is only a warning in pandas; make it an error.
        warnings.simplefilter("error", pd.errors.ParserWarning)
        try:
            table = pd.read_csv(
                io.BytesIO(data),
                sep=sep,
                header=None,
                names=list(RATING_COLUMNS),
                skiprows=skip,
                index_col=False,
                engine="c",
                quoting=csv.QUOTE_NONE,
                skip_blank_lines=False,
            )
        except (pd.errors.ParserError, pd.errors.ParserWarning):
            line = _malformed_field_count(data, sep.encode(), len(RATING_COLUMNS), skip)
            raise MalformedLineError(
                where, line, f"expected {len(RATING_COLUMNS)} fields separated by {shown}"
            ) from None
    # Vectorised checks: every field a number, ids positive integers, timestamps integers.
    # Columns pandas already read as integers need no conversion (the usual, fast case).
    columns: dict[str, np.ndarray] = {}
    bad: np.ndarray | None = None
    for name in RATING_COLUMNS:
        column = table[name]
        if pd.api.types.is_integer_dtype(column.dtype):
            values = column.to_numpy()
            invalid = values < 1 if name in ("user_id", "item_id") else None
        else:
            values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64)
            invalid = np.isnan(values)
            if name != "rating":
                invalid |= values != np.floor(values)
            if name in ("user_id", "item_id"):
                invalid |= values < 1
        if invalid is not None and invalid.any():
            bad = invalid if bad is None else bad | invalid
        columns[name] = values
    del table
    if bad is not None:
        row = int(np.argmax(bad))
        text = data.split(b"\n", row + skip + 1)[row + skip].rstrip(b"\r").decode("latin-1")
        if shown_sep:
            text = text.replace(sep, shown_sep)
        raise MalformedLineError(
            where,
            skip + row + 1,
            f"expected 4 numbers (user id >= 1, item id >= 1, rating, unix time) separated by "
            f"{shown}, got {text!r}",
        )
    return pd.DataFrame(
        {
            "user_id": columns["user_id"].astype(np.int64, copy=False),
            "item_id": columns["item_id"].astype(np.int64, copy=False),
            "rating": columns["rating"].astype(np.float32),
            "timestamp": columns["timestamp"].astype(np.int64, copy=False),
        },
        copy=False,
    )


def parse_u_data(data: bytes, where: str) -> pd.DataFrame:
    """ML-100K ``u.data``: ``user id \\t item id \\t rating \\t timestamp``, no header."""
    return _parse_rating_table(data, where, sep="\t", header=None)


def parse_ratings_dat(data: bytes, where: str) -> pd.DataFrame:
    """ML-1M ``ratings.dat``: ``UserID::MovieID::Rating::Timestamp``, no header.

    pandas' fast C engine only splits on one character, so ``::`` becomes a tab first (the
    fields are numbers, so nothing else can contain it).
    """
    return _parse_rating_table(
        data.replace(b"::", b"\t"), where, sep="\t", header=None, shown_sep="::"
    )


def parse_ratings_csv(data: bytes, where: str) -> pd.DataFrame:
    """ML-20M ``ratings.csv``: header ``userId,movieId,rating,timestamp``, ratings in halves."""
    return _parse_rating_table(data, where, sep=",", header="userId,movieId,rating,timestamp")


ML100K_GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance",
    "Sci-Fi", "Thriller", "War", "Western",
)  # fmt: skip
"""The 19 genre flags of ``u.item``, in file order (as listed in ``u.genre``)."""

_YEAR_IN_TITLE = re.compile(r"\((\d{4})\)\s*$")


def title_year(title: str) -> int:
    """The year in a title such as ``"Toy Story (1995)"``; 0 when there is none."""
    match = _YEAR_IN_TITLE.search(title)
    return int(match.group(1)) if match else 0


def _decode(data: bytes, encoding: str, where: str) -> list[str]:
    """Decode and split into lines on ``\\n`` only (latin-1 text may hold U+0085 and friends,
    which ``str.splitlines`` would also split on). Trailing newlines are dropped.

    ``CorruptDataError`` for bytes that are not text: control bytes other than tab and the
    newlines (NUL, ...), or bytes that are not valid in ``encoding``.
    """
    control = _CONTROL_BYTES.search(data)
    if control is not None:
        raise _not_text_error(data, control.start(), where, "text file of movies")
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as error:
        raise _not_text_error(data, error.start, where, f"{encoding} text file of movies") from None
    text = text.rstrip("\r\n")
    if not text.strip():
        raise CorruptDataError(f"{where} is empty: it should hold one item per line")
    return [line.rstrip("\r") for line in text.split("\n")]


def _item_id(text: str, where: str, number: int) -> int:
    if not text.isdigit() or int(text) < 1:
        raise MalformedLineError(where, number, f"item id should be a positive integer: {text!r}")
    return int(text)


def _items_frame(rows: list[tuple[int, str, int, tuple[str, ...]]], where: str) -> pd.DataFrame:
    items = pd.DataFrame(rows, columns=["item_id", "title", "year", "genres"])
    items = items.astype({"item_id": np.int64, "year": np.int64})
    duplicated = items["item_id"].duplicated().to_numpy()
    if duplicated.any():
        row = int(np.argmax(duplicated))
        raise MalformedLineError(where, row + 1, f"item id {items['item_id'][row]} repeats")
    return items


def parse_u_item(data: bytes, where: str) -> pd.DataFrame:
    """ML-100K ``u.item`` (ISO-8859-1): ``id|title|release date|video date|URL|19 flags``."""
    rows = []
    for number, line in enumerate(_decode(data, "latin-1", where), start=1):
        fields = line.split("|")
        if len(fields) != 5 + len(ML100K_GENRES):
            raise MalformedLineError(
                where, number, f"expected {5 + len(ML100K_GENRES)} fields separated by '|'"
            )
        flags = fields[5:]
        if any(flag not in ("0", "1") for flag in flags):
            raise MalformedLineError(where, number, "genre flags should be 0 or 1")
        title, release = fields[1], fields[2]
        year = title_year(title) or (int(release[-4:]) if release[-4:].isdigit() else 0)
        genres = tuple(g for g, flag in zip(ML100K_GENRES, flags, strict=True) if flag == "1")
        rows.append((_item_id(fields[0], where, number), title, year, genres))
    return _items_frame(rows, where)


def parse_movies_dat(data: bytes, where: str) -> pd.DataFrame:
    """ML-1M ``movies.dat`` (ISO-8859-1): ``MovieID::Title::Genres`` (genres ``|``-separated).

    Titles contain single colons, so the split is on ``::`` only.
    """
    rows = []
    for number, line in enumerate(_decode(data, "latin-1", where), start=1):
        fields = line.split("::")
        if len(fields) != 3:
            raise MalformedLineError(where, number, "expected 3 fields separated by '::'")
        item, title, genres = fields
        genre_tuple = tuple(genres.split("|")) if genres else ()
        rows.append((_item_id(item, where, number), title, title_year(title), genre_tuple))
    return _items_frame(rows, where)


def parse_movies_csv(data: bytes, where: str) -> pd.DataFrame:
    """ML-20M ``movies.csv`` (UTF-8): header ``movieId,title,genres``; titles may be quoted."""
    lines = _decode(data, "utf-8", where)
    if lines[0] != "movieId,title,genres":
        raise MalformedLineError(where, 1, "expected the header 'movieId,title,genres'")
    rows = []
    reader = csv.reader(io.StringIO("\n".join(lines[1:])))
    for fields in reader:
        number = reader.line_num + 1
        if len(fields) != 3:
            raise MalformedLineError(where, number, "expected 3 comma-separated fields")
        item, title, genres = fields
        genre_tuple = () if genres in ("", "(no genres listed)") else tuple(genres.split("|"))
        rows.append((_item_id(item, where, number), title, title_year(title), genre_tuple))
    return _items_frame(rows, where)


Parser = Callable[[bytes, str], pd.DataFrame]
RATINGS_FORMATS: dict[str, Parser] = {
    "u.data": parse_u_data,
    "ratings.dat": parse_ratings_dat,
    "ratings.csv": parse_ratings_csv,
}
ITEMS_FORMATS: dict[str, Parser] = {
    "u.item": parse_u_item,
    "movies.dat": parse_movies_dat,
    "movies.csv": parse_movies_csv,
}


# --------------------------------------------------------------------------------------------
# Finding the files
# --------------------------------------------------------------------------------------------


def data_folder() -> Path | None:
    """The folder named by ``HYDRAREC_DATA`` (None when unset or empty); it must exist."""
    value = os.environ.get(DATA_ENV, "").strip()
    if not value:
        return None
    folder = Path(value).expanduser()
    if not folder.is_dir():
        raise DataNotFoundError(
            f"{DATA_ENV}={value} is not a folder: set {DATA_ENV} to the folder that holds the "
            f"MovieLens archives (e.g. ml-100k.zip) or extracted folders (e.g. ml-100k/), "
            f"or unset it to use the cache and the download"
        )
    return folder


def cache_folder() -> Path:
    """Where downloads go: ``$XDG_CACHE_HOME/hydrarec``, by default ``~/.cache/hydrarec``."""
    base = os.environ.get("XDG_CACHE_HOME", "").strip()
    return (Path(base) if base else Path.home() / ".cache") / "hydrarec"


def file_checksum(path: Path, algorithm: str) -> str:
    """Hex digest of a file, read in 1 MiB chunks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class DatasetFiles:
    """A place that holds a dataset's files: an extracted folder or a zip archive.

    ``origin`` says how it was found: ``"HYDRAREC_DATA"``, ``"cache"`` or ``"download"``.
    """

    spec: DatasetSpec
    path: Path
    is_zip: bool
    origin: str

    @property
    def location(self) -> str:
        """For people: e.g. ``/data/ml-100k (extracted folder, from HYDRAREC_DATA)``."""
        kind = "zip archive" if self.is_zip else "extracted folder"
        how = {"download": "downloaded into the cache", "cache": "from the cache"}.get(
            self.origin, f"from {self.origin}"
        )
        return f"{self.path} ({kind}, {how})"

    def where(self, member: str) -> str:
        """How error messages name one file."""
        if self.is_zip:
            return f"{_zip_member(self.spec, self.path, member)} in {self.path}"
        return str(self.path / member)

    def read_bytes(self, member: str) -> bytes:
        """The bytes of one of the dataset's files."""
        if not self.is_zip:
            return (self.path / member).read_bytes()
        try:
            with zipfile.ZipFile(self.path) as archive:
                return archive.read(_zip_member(self.spec, self.path, member))
        except (zipfile.BadZipFile, zlib.error, EOFError) as error:
            raise CorruptDataError(
                f"{member} in {self.path} cannot be read ({error}): the archive is damaged; "
                f"delete it and download {self.spec.url} again"
            ) from None


def _zip_member(spec: DatasetSpec, path: Path, member: str) -> str:
    """The name of ``member`` inside the archive (``ml-100k/u.data`` or plain ``u.data``)."""
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
    for name in (f"{spec.folder}/{member}", member):
        if name in names:
            return name
    raise CorruptDataError(
        f"{path} does not contain {spec.folder}/{member}: it is not the official "
        f"{spec.archive_name}; delete it and download {spec.url} again"
    )


def _verify_archive(spec: DatasetSpec, path: Path, members: Sequence[str]) -> None:
    """Check an archive's checksum (when published), that it opens, and that it has the files."""
    if spec.checksum is not None:
        actual = file_checksum(path, spec.checksum.algorithm)
        if actual != spec.checksum.hexdigest:
            size = f"the file has {path.stat().st_size:,} bytes"
            if spec.size_bytes:
                size += f", the official one {spec.size_bytes:,}"
            raise ChecksumError(
                f"{path} has {spec.checksum.algorithm} {actual}, but the official "
                f"{spec.archive_name} has {spec.checksum.hexdigest} ({size}): the file is "
                f"damaged, truncated or not the official archive; delete it and download "
                f"{spec.url} again",
                expected=spec.checksum.hexdigest,
                actual=actual,
            )
    try:
        with zipfile.ZipFile(path) as archive:
            archive.namelist()
    except (zipfile.BadZipFile, OSError) as error:
        raise CorruptDataError(
            f"{path} is not a complete zip archive ({error}); it is probably truncated: "
            f"delete it and download {spec.url} again"
        ) from None
    for member in members:
        _zip_member(spec, path, member)


def _look_in(
    folder: Path, spec: DatasetSpec, members: Sequence[str], origin: str
) -> DatasetFiles | None:
    """The dataset in ``folder`` (extracted folder first, then the archive), or None.

    An extracted folder that lacks a file, with no archive beside it, is an error, not a miss.
    """
    candidates = [folder / spec.folder]
    if folder.name == spec.folder:
        candidates.append(folder)  # HYDRAREC_DATA may be the extracted folder itself
    incomplete: tuple[Path, list[str]] | None = None
    for candidate in candidates:
        if candidate.is_dir():
            missing = [m for m in members if not (candidate / m).is_file()]
            if not missing:
                return DatasetFiles(spec, candidate, is_zip=False, origin=origin)
            incomplete = (candidate, missing)
    archive = folder / spec.archive_name
    if archive.is_file():
        _verify_archive(spec, archive, members)
        return DatasetFiles(spec, archive, is_zip=True, origin=origin)
    if incomplete is not None:
        path, missing = incomplete
        names = " and ".join(missing)
        raise CorruptDataError(
            f"the folder {path} has no {names}: put the official {spec.archive_name} "
            f"({spec.url}) in {folder}, or copy {names} from it into {path}"
        )
    return None


# --------------------------------------------------------------------------------------------
# Downloading: GroupLens, then the mirrors; the published checksum is the authority
# --------------------------------------------------------------------------------------------

MIRRORS_ENV = "HYDRAREC_MIRRORS"
"""Environment variable: space-separated base URLs tried after GroupLens (archive name added)."""

RECOMMENDERS_MIRROR = "https://huggingface.co/datasets/Recommenders/MovieLens/resolve/main"
"""A third party's copy of the MovieLens archives (the Recommenders project), for the advice."""


@dataclass(frozen=True)
class DownloadPolicy:
    """How hard to try each source: ``attempts`` tries, waiting ``delay_s``, then twice that...

    Only transient failures (no connection, timeout, HTTP 5xx) are retried; a wrong checksum, an
    HTTP 4xx or a certificate error is not (a certificate error leads to the unverified try).
    """

    attempts: int = 3
    delay_s: float = 0.5
    timeout_s: float = 30.0


DOWNLOAD_POLICY = DownloadPolicy()
"""The policy ``download_archive`` uses by default (offline, a source fails in ~1.5 s)."""


class _SourceError(Exception):
    """One try of one source failed: ``reason`` for people; how to go on from there."""

    def __init__(
        self,
        reason: str,
        *,
        transient: bool = False,
        certificate: bool = False,
        checksum: ChecksumError | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.transient = transient
        self.certificate = certificate
        self.checksum = checksum


def download_sources(spec: DatasetSpec) -> list[str]:
    """The URLs to try, in order: ``spec.url``, then each base URL of ``HYDRAREC_MIRRORS``."""
    mirrors = os.environ.get(MIRRORS_ENV, "").split()
    return [spec.url] + [f"{base.rstrip('/')}/{spec.archive_name}" for base in mirrors]


def _causes(error: BaseException) -> list[BaseException]:
    """``error`` and what caused it, outermost first (requests -> urllib3 -> socket/ssl)."""
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in chain:
        chain.append(current)
        reason = getattr(current, "reason", None)
        first = current.args[0] if current.args else None
        current = next(
            (
                e
                for e in (reason, current.__cause__, current.__context__, first)
                if isinstance(e, BaseException)
            ),
            None,
        )
    return chain


def _describe(error: BaseException) -> str:
    """A short reason: the innermost OS error's text, e.g. "Connection refused"."""
    for cause in reversed(_causes(error)):
        if isinstance(cause, ssl.SSLCertVerificationError):
            return cause.verify_message or str(cause)
        if isinstance(cause, OSError) and cause.strerror:
            return cause.strerror
    if isinstance(error, requests.exceptions.Timeout):
        return "timed out"
    return str(error) or type(error).__name__


def _check_download(spec: DatasetSpec, path: Path) -> None:
    """Raise ``ChecksumError`` if a downloaded file is not the published one."""
    if spec.checksum is None:
        return
    actual = file_checksum(path, spec.checksum.algorithm)
    if actual != spec.checksum.hexdigest:
        raise ChecksumError(
            f"served a file with {spec.checksum.algorithm} {actual}, but the official "
            f"{spec.archive_name} has {spec.checksum.hexdigest}; it was deleted",
            expected=spec.checksum.hexdigest,
            actual=actual,
        )


def _fetch_once(
    spec: DatasetSpec, url: str, destination: Path, *, verify: bool, policy: DownloadPolicy
) -> None:
    """Download ``url`` to ``destination`` once (pooch: temporary file, check, rename).

    Raises ``_SourceError``. A file with the wrong checksum is deleted before it is renamed.
    """
    known_hash = f"{spec.checksum.algorithm}:{spec.checksum.hexdigest}" if spec.checksum else None
    logger = pooch.get_logger()
    level = logger.level
    with (
        tqdm(
            total=spec.size_bytes or 1,  # pooch sets the served size; it needs a truthy bar
            delay=0.5,  # shown only if the download takes a while (not for a failed try)
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=f"downloading {spec.archive_name} from {urlparse(url).hostname}",
            file=sys.stderr,
            leave=False,
        ) as progress,
        warnings.catch_warnings(),
    ):
        if not verify:  # only for this try, whose file is kept only if its checksum matches
            warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
        http = pooch.HTTPDownloader(
            progressbar=progress,
            verify=verify,
            timeout=policy.timeout_s,
            headers={"User-Agent": "hydrarec_minimal"},
        )

        def download(url: str, output_file: str, pooch_object: object, check_only=False):
            """pooch's download, then our check, which runs before pooch's own so that the
            error can give both hashes (pooch deletes the temporary file when it raises)."""
            http(url, output_file, pooch_object)
            _check_download(spec, Path(output_file))

        logger.setLevel("WARNING")  # pooch's "Downloading data from ..." lines
        try:
            pooch.retrieve(
                url,
                known_hash=known_hash,
                fname=destination.name,
                path=destination.parent,
                downloader=download,
            )
        except ChecksumError as error:
            raise _SourceError(str(error), checksum=error) from None
        except requests.exceptions.SSLError as error:
            certificate = any(isinstance(c, ssl.SSLCertVerificationError) for c in _causes(error))
            raise _SourceError(_describe(error), certificate=certificate) from None
        except requests.exceptions.HTTPError as error:
            status = error.response.status_code
            reason = f"HTTP {status} {error.response.reason}"
            raise _SourceError(reason, transient=status >= 500) from None
        except (
            requests.exceptions.ConnectionError,
            requests.exceptions.Timeout,
            requests.exceptions.ChunkedEncodingError,  # the transfer was cut short
        ) as error:
            raise _SourceError(_describe(error), transient=True) from None
        except (requests.exceptions.RequestException, OSError) as error:
            raise _SourceError(_describe(error)) from None
        finally:
            logger.setLevel(level)


def _fetch_with_retries(
    spec: DatasetSpec, url: str, destination: Path, *, verify: bool, policy: DownloadPolicy
) -> None:
    """``_fetch_once``, retrying transient failures with a doubling delay."""
    for attempt in range(1, policy.attempts + 1):
        try:
            return _fetch_once(spec, url, destination, verify=verify, policy=policy)
        except _SourceError as error:
            if not error.transient or attempt == policy.attempts:
                if error.transient and attempt > 1:
                    error.reason += f" ({attempt} attempts)"
                raise
            time.sleep(policy.delay_s * 2 ** (attempt - 1))


def _fetch_from(spec: DatasetSpec, url: str, destination: Path, policy: DownloadPolicy) -> None:
    """One source: verified TLS first; on a certificate error, unverified but hash-checked."""
    try:
        return _fetch_with_retries(spec, url, destination, verify=True, policy=policy)
    except _SourceError as error:
        if not error.certificate:
            raise
        unverified = f"TLS certificate could not be verified ({error.reason})"
    if spec.checksum is None:
        raise _SourceError(f"{unverified}; no published checksum to check a copy")
    host = urlparse(url).hostname
    print(
        f"{host}'s {unverified}; downloading without verification, accepted only if its "
        f"{spec.checksum.algorithm} matches the published one",
        file=sys.stderr,
    )
    try:
        _fetch_with_retries(spec, url, destination, verify=False, policy=policy)
    except _SourceError as error:
        error.reason = f"{unverified}; without verification: {error.reason}"
        raise


def download_archive(
    spec: DatasetSpec, destination: Path, *, policy: DownloadPolicy | None = None
) -> Path:
    """Download the archive to ``destination`` from the first source that serves the real one.

    Sources (``download_sources``): GroupLens, then ``HYDRAREC_MIRRORS``. Each is tried with TLS
    verified; after a certificate error, again without verification. Whatever a source serves
    is kept only if its checksum is the published one (a temporary file, checked, then renamed
    into place; a wrong file is deleted). With a progress bar on stderr; proxies come from the
    usual ``https_proxy`` etc. If every source fails: ``ChecksumError`` when one served a wrong
    file, else ``DataNotFoundError``; either names every source and why it failed.
    """
    policy = policy or DOWNLOAD_POLICY
    try:
        destination.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DataNotFoundError(
            f"cannot write to the cache folder {destination.parent} ({error}): download "
            f"{spec.url} yourself, put it in a folder and set {DATA_ENV} to that folder"
        ) from None
    failures: list[tuple[str, _SourceError]] = []
    for url in download_sources(spec):
        try:
            _fetch_from(spec, url, destination, policy)
            return destination
        except _SourceError as error:
            failures.append((url, error))
    tried = "; ".join(f"{url}: {error.reason}" for url, error in failures)
    message = f"the download failed from every source ({tried})"
    wrong = next((error.checksum for _, error in failures if error.checksum), None)
    if wrong is not None:
        raise ChecksumError(message, expected=wrong.expected, actual=wrong.actual)
    raise DataNotFoundError(message)


def find_files(
    dataset: str | DatasetSpec,
    *,
    members: Sequence[str] | None = None,
    download: bool = True,
) -> DatasetFiles:
    """Find (or download) a dataset: ``HYDRAREC_DATA``, then the cache, then the download.

    ``members`` are the files needed (default: ratings and item metadata); asking only for the
    metadata file lets a partial copy serve, e.g. an ``ml-1m/`` folder without ``ratings.dat``.
    Errors: ``DataNotFoundError`` (nowhere, download failed), ``ChecksumError`` (a source served
    a wrong file, or a local copy is not the official one), ``CorruptDataError``.
    """
    spec = get_spec(dataset)
    members = tuple(members) if members is not None else spec.members
    folder = data_folder()
    if folder is not None:
        found = _look_in(folder, spec, members, origin=DATA_ENV)
        if found is not None:
            return found
    cache = cache_folder()
    found = _look_in(cache, spec, members, origin="cache") if cache.is_dir() else None
    if found is not None:
        return found
    searched = (
        f"{DATA_ENV}={folder}" if folder is not None else f"{DATA_ENV} (not set)"
    ) + f" and the cache {cache}"
    advice = (
        f"to use a copy you downloaded yourself, put {spec.archive_name} (or its extracted "
        f"folder {spec.folder}/ with {' and '.join(members)}) in a folder and set {DATA_ENV} to "
        f"that folder, e.g. export {DATA_ENV}=/path/to/that/folder"
    )
    if not download:
        raise DataNotFoundError(f"{spec.name} not found in {searched}; {advice}")
    if not os.environ.get(MIRRORS_ENV, "").strip():
        advice += (
            f"; or try a mirror (its copy is kept only if the checksum matches), e.g. "
            f"export {MIRRORS_ENV}={RECOMMENDERS_MIRROR}"
        )
    destination = cache / spec.archive_name
    try:
        download_archive(spec, destination)
    except ChecksumError as error:
        raise ChecksumError(
            f"{spec.name} not found in {searched}, and {error}; {advice}",
            expected=error.expected,
            actual=error.actual,
        ) from None
    except DataNotFoundError as error:
        raise DataNotFoundError(
            f"{spec.name} not found in {searched}, and {error}; {advice}"
        ) from None
    _verify_archive(spec, destination, members)
    return DatasetFiles(spec, destination, is_zip=True, origin="download")


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------


def _parse(parser: Parser, data: bytes, where: str, spec: DatasetSpec) -> pd.DataFrame:
    """Run a parser; add what to do to its error."""
    advice = f"replace the file with the one in {spec.url}"
    try:
        return parser(data, where)
    except MalformedLineError as error:
        raise MalformedLineError(error.path, error.line, f"{error.problem}; {advice}") from None
    except CorruptDataError as error:
        raise CorruptDataError(f"{error}; {advice}") from None


def _check_file_hash(files: DatasetFiles, member: str, data: bytes) -> None:
    """Extracted folders: compare a file with its known sha256 (archives are checked whole)."""
    expected = files.spec.file_sha256.get(member)
    if files.is_zip or expected is None:
        return
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise ChecksumError(
            f"{files.where(member)} has sha256 {actual}, but the official {member} has "
            f"{expected}: the file was edited (e.g. lines added or cut, accents stripped); "
            f"replace it with the one in {files.spec.url}",
            expected=expected,
            actual=actual,
        )


def _read_items(files: DatasetFiles) -> pd.DataFrame:
    spec = files.spec
    data = files.read_bytes(spec.items_file)
    items = _parse(ITEMS_FORMATS[spec.items_format], data, files.where(spec.items_file), spec)
    if spec.expected is not None and len(items) != spec.expected.catalogue:
        raise CorruptDataError(
            f"{files.where(spec.items_file)} lists {len(items):,} items, but the official file "
            f"lists {spec.expected.catalogue:,}: replace it with the one in {spec.url}"
        )
    _check_file_hash(files, spec.items_file, data)
    return items


def load_item_metadata(dataset: str | DatasetSpec, *, download: bool = True) -> pd.DataFrame:
    """Only the item metadata (columns ``item_id``, ``title``, ``year``, ``genres``)."""
    spec = get_spec(dataset)
    return _read_items(find_files(spec, members=[spec.items_file], download=download))


def load_movielens(dataset: str | DatasetSpec, *, download: bool = True) -> InteractionData:
    """Find, verify and parse a dataset of the registry (see the module docstring)."""
    spec = get_spec(dataset)
    files = find_files(spec, download=download)
    where = files.where(spec.ratings_file)
    data = files.read_bytes(spec.ratings_file)
    interactions = _parse(RATINGS_FORMATS[spec.ratings_format], data, where, spec)
    if spec.expected is not None:
        found = (
            len(interactions),
            interactions["user_id"].nunique(),
            interactions["item_id"].nunique(),
        )
        wanted = (spec.expected.interactions, spec.expected.users, spec.expected.items)
        if found != wanted:
            raise CorruptDataError(
                f"{where} has {found[0]:,} ratings by {found[1]:,} users on {found[2]:,} items, "
                f"but the official file has {wanted[0]:,} by {wanted[1]:,} on {wanted[2]:,}: it "
                f"was edited or cut short; replace it with the one in {spec.url}"
            )
    _check_file_hash(files, spec.ratings_file, data)
    del data
    return InteractionData(spec.name, interactions, _read_items(files), files.location)
