"""MovieLens: the registry of archives, and finding, verifying and parsing their files.

``load_movielens(name)`` looks in ``HYDRAREC_DATA`` (a folder holding ``ml-100k.zip`` or
``ml-100k/``, or that folder itself), then the cache, then downloads. Archives, files and
counts are checked against the official ones; every failure is a one-line ``DataError``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import warnings
import zipfile
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from hydrarec_minimal.download import RECOMMENDERS_MIRROR, download_archive, file_checksum
from hydrarec_minimal.errors import (
    ChecksumError,
    CorruptDataError,
    DataError,
    DataNotFoundError,
    MalformedLineError,
    UnknownDatasetError,
)
from hydrarec_minimal.settings import DATA_ENV, MIRRORS_ENV

__all__ = ["DataError", "REGISTRY", "InteractionData", "load_movielens", "load_item_metadata"]


@dataclass(frozen=True)
class Checksum:
    """A published checksum; ``algorithm`` is a ``hashlib`` name ("sha256", "md5")."""

    algorithm: str
    hexdigest: str

    def __str__(self) -> str:
        return f"{self.algorithm} {self.hexdigest}"


@dataclass(frozen=True)
class ExpectedCounts:
    """An official copy's ratings, distinct users and items, and catalogue rows."""

    interactions: int
    users: int
    items: int
    catalogue: int


@dataclass(frozen=True)
class DatasetSpec:
    """How to fetch, verify and parse one dataset: ``*_format`` are keys of ``RATINGS_FORMATS``
    / ``ITEMS_FORMATS``; None: unchecked; ``file_sha256``: of extracted files, where known."""

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
        return Path(self.url).name


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
        size_bytes=5_917_549,
        folder="ml-1m",
        ratings_file="ratings.dat",
        items_file="movies.dat",
        ratings_format="ratings.dat",
        items_format="movies.dat",
        expected=ExpectedCounts(interactions=1_000_209, users=6_040, items=3_706, catalogue=3_883),
        file_sha256={
            "movies.dat": "0140fc2356357c1a851d0f52e893a1e4d3696df632c4141cea8d5bc3d621f0b9"
        },
    ),
    "ml-20m": DatasetSpec(
        name="ml-20m",
        title="MovieLens 20M (2015)",
        url=f"{_GROUPLENS}/ml-20m.zip",
        checksum=Checksum("md5", "cd245b17a1ae2cc31bb14903e1204af3"),  # GroupLens: md5 only
        size_bytes=198_702_078,
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
    if isinstance(dataset, DatasetSpec):
        return dataset
    if dataset not in REGISTRY:
        known = ", ".join(REGISTRY)
        raise UnknownDatasetError(f"unknown dataset {dataset!r}; known datasets: {known}")
    return REGISTRY[dataset]


@dataclass(frozen=True, eq=False)
class InteractionData:
    """A dataset as loaded: ``interactions`` (``user_id``, ``item_id``, ``rating``,
    ``timestamp``) in file order; ``items`` (``item_id``, ``title``, ``year`` (0 = unknown),
    ``genres`` (tuple)); ``location``: for people."""

    name: str
    interactions: pd.DataFrame
    items: pd.DataFrame
    location: str


RATING_COLUMNS = ("user_id", "item_id", "rating", "timestamp")
_CONTROL_BYTES = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # all but \t \n \r
_NOT_ASCII = re.compile(rb"[\x00\x80-\xff]")


def _not_text(data: bytes, position: int, where: str, kind: str) -> CorruptDataError:
    line = data.count(b"\n", 0, position) + 1
    return CorruptDataError(
        f"{where} is not a {kind}: its byte 0x{data[position]:02x} on line {line} is not text "
        f"(the file is damaged, or it is another file under this name)"
    )


def _bad_rating_line(line: bytes, sep: str) -> bool:
    fields = line.rstrip(b"\r").decode("latin-1").split(sep)
    try:
        user, item, rating, _ = int(fields[0]), int(fields[1]), float(fields[2]), int(fields[3])
    except (ValueError, IndexError):
        return True
    return len(fields) != 4 or user < 1 or item < 1 or rating != rating  # NaN


def _parse_ratings(data: bytes, where: str, sep: str, header: str | None = None) -> pd.DataFrame:
    """``user, item, rating, timestamp`` lines; a file that fails pandas' fast checks is read
    again line by line to name its bad line (``MalformedLineError``)."""
    if not data or data.isspace():
        raise CorruptDataError(f"{where} is empty: it should hold one rating per line")
    if not data.isascii() or b"\x00" in data:
        raise _not_text(data, _NOT_ASCII.search(data).start(), where, "text ratings file")
    shown = "::" if sep == "::" else sep
    if sep == "::":  # the C parser splits on one character; the fields are numbers
        data, sep = data.replace(b"::", b"\t"), "\t"
    stripped = data.rstrip(b"\r\n")
    if len(stripped) != len(data) - 1:  # no final newline, CRLF or blank lines: one "\n"
        data = stripped + b"\n"
    skip = 0
    if header is not None:
        first, _, rest = data.partition(b"\n")
        if first.rstrip(b"\r").decode("latin-1") != header:
            raise MalformedLineError(where, 1, f"expected the header {header!r}")
        if not rest:
            raise CorruptDataError(f"{where} is empty: it has a header but no ratings")
        skip = 1
    table = None
    with warnings.catch_warnings():
        warnings.simplefilter("error", pd.errors.ParserWarning)  # too many fields on line 1
        try:
            options = {"header": None, "index_col": False, "quoting": csv.QUOTE_NONE}
            names, buffer = list(RATING_COLUMNS), io.BytesIO(data)
            table = pd.read_csv(
                buffer, sep=sep, names=names, skiprows=skip, skip_blank_lines=False, **options
            )
        except (pd.errors.ParserError, pd.errors.ParserWarning):
            pass
    if table is not None:
        ids, rating = table[["user_id", "item_id", "timestamp"]], table["rating"]
        integers = ids.dtypes.map(pd.api.types.is_integer_dtype).all()
        numbers = rating.dtype.kind in "iuf" and not rating.isna().any()
        if integers and numbers and (ids.iloc[:, :2] >= 1).all(axis=None):
            return table.astype({**dict.fromkeys(ids, np.int64), "rating": np.float32})
    lines = data.split(b"\n")[skip:-1]
    row = next((n for n, line in enumerate(lines) if _bad_rating_line(line, sep)), 0)
    text = lines[row].rstrip(b"\r").decode("latin-1").replace(sep, shown)
    raise MalformedLineError(
        where,
        skip + row + 1,
        f"expected 4 numbers (user id >= 1, item id >= 1, rating, unix time) separated by "
        f"{shown!r}, got {text!r}",
    )


ML100K_GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance",
    "Sci-Fi", "Thriller", "War", "Western",
)  # fmt: skip
_YEAR_IN_TITLE = re.compile(r"\((\d{4})\)\s*$")


def title_year(title: str) -> int:
    """The year in a title such as ``"Toy Story (1995)"``; 0 when there is none."""
    match = _YEAR_IN_TITLE.search(title)
    return int(match.group(1)) if match else 0


def _parse_items(
    data: bytes, where: str, *, encoding: str, sep: str, fields: int, header: str | None = None
) -> pd.DataFrame:
    """Lines of ``item_id, title, genres`` (``u.item``: 24 fields; ``sep=","``: quoted CSV);
    split on ``\\n`` only (latin-1 titles may hold U+0085)."""
    control = _CONTROL_BYTES.search(data)
    if control is not None:
        raise _not_text(data, control.start(), where, "text file of movies")
    try:
        text = data.decode(encoding).rstrip("\r\n")
    except UnicodeDecodeError as error:
        raise _not_text(data, error.start, where, f"{encoding} text file of movies") from None
    if not text.strip():
        raise CorruptDataError(f"{where} is empty: it should hold one item per line")
    lines, first = [line.rstrip("\r") for line in text.split("\n")], 1
    if header is not None:
        if lines[0] != header:
            raise MalformedLineError(where, 1, f"expected the header {header!r}")
        lines, first = lines[1:], 2
    if sep == ",":
        rows, shown = csv.reader(io.StringIO("\n".join(lines))), "commas"
    else:
        rows, shown = (line.split(sep) for line in lines), repr(sep)
    table = []
    for number, values in enumerate(rows, start=first):
        if len(values) != fields:
            problem = f"expected {fields} fields separated by {shown}"
            raise MalformedLineError(where, number, problem)
        item, title = values[0], values[1]
        if not item.isdigit() or int(item) < 1:
            raise MalformedLineError(
                where, number, f"item id should be a positive integer: {item!r}"
            )
        if fields == 3:
            genres = () if values[2] in ("", "(no genres listed)") else tuple(values[2].split("|"))
            year = title_year(title)
        else:  # u.item: id|title|release date|video date|URL|19 genre flags
            if any(flag not in ("0", "1") for flag in values[5:]):
                raise MalformedLineError(where, number, "genre flags should be 0 or 1")
            genres = tuple(g for g, f in zip(ML100K_GENRES, values[5:], strict=True) if f == "1")
            release = values[2][-4:]
            year = title_year(title) or (int(release) if release.isdigit() else 0)
        table.append((int(item), title, year, genres))
    items = pd.DataFrame(table, columns=["item_id", "title", "year", "genres"])
    items = items.astype({"item_id": np.int64, "year": np.int64})
    repeats = items["item_id"].duplicated().to_numpy()
    if repeats.any():
        row = int(np.argmax(repeats))
        raise MalformedLineError(where, row + first, f"item id {items['item_id'][row]} repeats")
    return items


Parser = Callable[[bytes, str], pd.DataFrame]
RATINGS_FORMATS: dict[str, Parser] = {  # ML-100K, ML-1M, ML-20M
    "u.data": partial(_parse_ratings, sep="\t"),
    "ratings.dat": partial(_parse_ratings, sep="::"),
    "ratings.csv": partial(_parse_ratings, sep=",", header="userId,movieId,rating,timestamp"),
}
ITEMS_FORMATS: dict[str, Parser] = {  # u.item: id|title|release date|video date|URL|19 flags
    "u.item": partial(_parse_items, encoding="latin-1", sep="|", fields=24),
    "movies.dat": partial(_parse_items, encoding="latin-1", sep="::", fields=3),
    "movies.csv": partial(
        _parse_items, encoding="utf-8", sep=",", fields=3, header="movieId,title,genres"
    ),
}
parse_u_data, parse_ratings_dat, parse_ratings_csv = RATINGS_FORMATS.values()


def data_folder() -> Path | None:
    """The folder named by ``HYDRAREC_DATA`` (None when unset); ``DataNotFoundError`` if missing."""
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


@dataclass(frozen=True)
class DatasetFiles:
    """An extracted folder or a zip archive holding a dataset, and how it was found."""

    spec: DatasetSpec
    path: Path
    is_zip: bool
    origin: str

    @property
    def location(self) -> str:
        kind = "zip archive" if self.is_zip else "extracted folder"
        how = {"download": "downloaded into the cache", "cache": "from the cache"}.get(
            self.origin, f"from {self.origin}"
        )
        return f"{self.path} ({kind}, {how})"

    def where(self, member: str) -> str:
        if self.is_zip:
            return f"{_zip_member(self.spec, self.path, member)} in {self.path}"
        return str(self.path / member)

    def read_bytes(self, member: str) -> bytes:
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
    """The dataset in ``folder`` (extracted folder first, then the archive), or None."""
    candidates = [folder / spec.folder] + ([folder] if folder.name == spec.folder else [])
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


def find_files(
    dataset: str | DatasetSpec, *, members: Sequence[str] | None = None, download: bool = True
) -> DatasetFiles:
    """Find a dataset's ``members`` (default: both files) in ``HYDRAREC_DATA``, then the cache,
    then download it."""
    spec = get_spec(dataset)
    members = tuple(members) if members is not None else (spec.ratings_file, spec.items_file)
    folder = data_folder()
    found = _look_in(folder, spec, members, origin=DATA_ENV) if folder is not None else None
    cache = cache_folder()
    if found is None and cache.is_dir():
        found = _look_in(cache, spec, members, origin="cache")
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
    except (ChecksumError, DataNotFoundError) as error:
        message = f"{spec.name} not found in {searched}, and {error}; {advice}"
        if isinstance(error, ChecksumError):
            raise ChecksumError(message, expected=error.expected, actual=error.actual) from None
        raise DataNotFoundError(message) from None
    _verify_archive(spec, destination, members)
    return DatasetFiles(spec, destination, is_zip=True, origin="download")


def _read(files: DatasetFiles, member: str, parser: Parser) -> pd.DataFrame:
    """Parse one file, then check its counts and sha256 where known."""
    spec, where = files.spec, files.where(member)
    data = files.read_bytes(member)
    advice = f"replace the file with the one in {spec.url}"
    try:
        table = parser(data, where)
    except MalformedLineError as error:
        raise MalformedLineError(error.path, error.line, f"{error.problem}; {advice}") from None
    except CorruptDataError as error:
        raise CorruptDataError(f"{error}; {advice}") from None
    counts = spec.expected
    if counts is not None and member == spec.items_file and len(table) != counts.catalogue:
        raise CorruptDataError(
            f"{where} lists {len(table):,} items, but the official file lists "
            f"{counts.catalogue:,}: {advice}"
        )
    if counts is not None and member == spec.ratings_file:
        found = (len(table), table["user_id"].nunique(), table["item_id"].nunique())
        wanted = (counts.interactions, counts.users, counts.items)
        if found != wanted:
            raise CorruptDataError(
                f"{where} has {found[0]:,} ratings by {found[1]:,} users on {found[2]:,} items, "
                f"but the official file has {wanted[0]:,} by {wanted[1]:,} on {wanted[2]:,}: it "
                f"was edited or cut short; {advice}"
            )
    expected = spec.file_sha256.get(member)
    if not files.is_zip and expected is not None:  # archives are checked whole
        actual = hashlib.sha256(data).hexdigest()
        if actual != expected:
            raise ChecksumError(
                f"{where} has sha256 {actual}, but the official {member} has {expected}: the "
                f"file was edited (e.g. lines added or cut, accents stripped); {advice}",
                expected=expected,
                actual=actual,
            )
    return table


def load_item_metadata(dataset: str | DatasetSpec, *, download: bool = True) -> pd.DataFrame:
    """Only the item metadata (columns ``item_id``, ``title``, ``year``, ``genres``)."""
    spec = get_spec(dataset)
    files = find_files(spec, members=[spec.items_file], download=download)
    return _read(files, spec.items_file, ITEMS_FORMATS[spec.items_format])


def load_movielens(dataset: str | DatasetSpec, *, download: bool = True) -> InteractionData:
    """Find, verify and parse a registry dataset (errors: ``DataError`` subclasses)."""
    spec = get_spec(dataset)
    files = find_files(spec, download=download)
    ratings = _read(files, spec.ratings_file, RATINGS_FORMATS[spec.ratings_format])
    items = _read(files, spec.items_file, ITEMS_FORMATS[spec.items_format])
    return InteractionData(spec.name, ratings, items, files.location)
