"""Finding, downloading, verifying and parsing MovieLens; the synthetic fallback; ``data`` command.

Bad inputs are real files on disk (pytest's ``tmp_path``); downloads go to a small HTTP server on
127.0.0.1 serving a fixture archive built here. Tests that need real MovieLens read it from
``HYDRAREC_DATA`` and skip when it is missing, except under ``HYDRAREC_STRICT_DATA=1`` (CI),
where they fail instead.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from realdata import require_movielens

from hydrarec_minimal import download, movielens
from hydrarec_minimal.course.cli import main
from hydrarec_minimal.course.data_cli import dataset_summary
from hydrarec_minimal.data import SyntheticDataWarning, load_dataset
from hydrarec_minimal.errors import (
    ChecksumError,
    CorruptDataError,
    DataNotFoundError,
    MalformedLineError,
    UnknownDatasetError,
    UserError,
)
from hydrarec_minimal.movielens import (
    REGISTRY,
    Checksum,
    DatasetSpec,
    ExpectedCounts,
    load_item_metadata,
    load_movielens,
)


@pytest.fixture(autouse=True)
def isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No real data folder or mirrors, an empty private cache, no proxy for 127.0.0.1, not
    strict; failed downloads are retried without waiting."""
    monkeypatch.delenv("HYDRAREC_DATA", raising=False)
    monkeypatch.delenv("HYDRAREC_MIRRORS", raising=False)
    monkeypatch.setattr(download, "DOWNLOAD_POLICY", download.DownloadPolicy(delay_s=0))
    monkeypatch.delenv("HYDRAREC_STRICT_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


def real_data(monkeypatch: pytest.MonkeyPatch, name: str, member: str) -> None:
    """Point HYDRAREC_DATA at the real copy, or skip (fail when strict) if it has no ``name``."""
    monkeypatch.setenv("HYDRAREC_DATA", require_movielens(name, member))


# --- a tiny dataset in each of the three MovieLens formats ------------------------------------

# (user, item, rating, timestamp); user 1 rated items 1 and 3 in the same second.
TINY_RATINGS = [
    (1, 3, 4, 1000), (1, 1, 5, 1000), (1, 2, 3, 900), (1, 5, 2, 1100),
    (2, 4, 3, 500), (2, 1, 4, 600), (2, 6, 1, 700), (2, 2, 5, 800),
    (3, 6, 5, 50), (3, 2, 4, 60),
    (9, 4, 1, 10), (9, 3, 2, 20), (9, 1, 3, 30),
]  # fmt: skip
TINY_TITLES = {
    1: "Toy Story (1995)",
    2: "Misérables, Les (1995)",
    3: "Alien³ (1992)",
    4: "Café, au Lait (1993)",
    5: "unknown",
    6: "Déjà Vu (1997)",
}
TINY_GENRES = {1: ("Animation", "Comedy"), 2: ("Drama",), 3: ("Sci-Fi",), 4: ("Comedy",), 5: ()}
TINY_GENRES[6] = ("Drama", "Romance")
TINY_COUNTS = ExpectedCounts(interactions=13, users=4, items=6, catalogue=6)
FILES = {
    "100k": ("u.data", "u.item"),
    "1m": ("ratings.dat", "movies.dat"),
    "20m": ("ratings.csv", "movies.csv"),
}


def tiny_files(fmt: str) -> dict[str, bytes]:
    """The tiny dataset's two files, as bytes, in format ``fmt`` ("100k", "1m" or "20m")."""
    ratings_name, items_name = FILES[fmt]
    if fmt == "100k":
        ratings = "".join(f"{u}\t{i}\t{r}\t{t}\n" for u, i, r, t in TINY_RATINGS)
        lines = []
        for item, title in TINY_TITLES.items():
            flags = ["1" if g in TINY_GENRES[item] else "0" for g in movielens.ML100K_GENRES]
            date = f"01-Jan-{title[-5:-1]}" if title[-1] == ")" else ""
            lines.append("|".join([str(item), title, date, "", "http://x", *flags]) + "\n")
        return {ratings_name: ratings.encode(), items_name: "".join(lines).encode("latin-1")}
    if fmt == "1m":
        ratings = "".join(f"{u}::{i}::{r}::{t}\n" for u, i, r, t in TINY_RATINGS)
        movies = "".join(f"{i}::{t}::{'|'.join(TINY_GENRES[i])}\n" for i, t in TINY_TITLES.items())
        return {ratings_name: ratings.encode(), items_name: movies.encode("latin-1")}
    ratings = "userId,movieId,rating,timestamp\n" + "".join(
        f"{u},{i},{r}.0,{t}\n" for u, i, r, t in TINY_RATINGS
    )
    movies = "movieId,title,genres\n" + "".join(
        f'{i},"{t}",{"|".join(TINY_GENRES[i]) or "(no genres listed)"}\n'
        for i, t in TINY_TITLES.items()
    )
    return {ratings_name: ratings.encode(), items_name: movies.encode("utf-8")}


def tiny_spec(fmt: str = "100k", **changes: object) -> DatasetSpec:
    """A registry entry for the tiny dataset (no checksum unless given)."""
    ratings_name, items_name = FILES[fmt]
    spec = DatasetSpec(
        name="tiny",
        title="Tiny test data",
        url="http://127.0.0.1:9/tiny.zip",
        checksum=None,
        size_bytes=None,
        folder="tiny",
        ratings_file=ratings_name,
        items_file=items_name,
        ratings_format=ratings_name,
        items_format=items_name,
        expected=TINY_COUNTS,
    )
    return dataclasses.replace(spec, **changes)


def write_folder(root: Path, fmt: str = "100k", files: dict[str, bytes] | None = None) -> Path:
    """Write the extracted folder ``root/tiny`` and return it."""
    folder = root / "tiny"
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in (tiny_files(fmt) if files is None else files).items():
        (folder / name).write_bytes(data)
    return folder


def write_zip(path: Path, fmt: str = "100k", files: dict[str, bytes] | None = None) -> Checksum:
    """Write the archive (members under ``tiny/``) and return its sha256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in (tiny_files(fmt) if files is None else files).items():
            archive.writestr(f"tiny/{name}", data)
    return Checksum("sha256", hashlib.sha256(path.read_bytes()).hexdigest())


def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (a port just bound and released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/tiny.zip"


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A quiet HTTP server on 127.0.0.1 serving a folder: yields (base URL, folder)."""
    served = tmp_path / "served"
    served.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", served
    finally:
        server.shutdown()
        server.server_close()


def check_tiny(data: movielens.InteractionData) -> None:
    """The tiny dataset was read correctly (whatever the format)."""
    expected = pd.DataFrame(TINY_RATINGS, columns=list(movielens.RATING_COLUMNS))
    assert data.interactions["user_id"].tolist() == expected["user_id"].tolist()
    assert data.interactions["item_id"].tolist() == expected["item_id"].tolist()
    assert data.interactions["rating"].tolist() == expected["rating"].astype(float).tolist()
    assert data.interactions["timestamp"].tolist() == expected["timestamp"].tolist()
    assert data.interactions.dtypes.astype(str).tolist() == ["int64", "int64", "float32", "int64"]
    items = data.items.set_index("item_id")
    assert items["title"].to_dict() == TINY_TITLES
    assert items.loc[2, "year"] == 1995 and items.loc[5, "year"] == 0
    assert {i: set(g) for i, g in items["genres"].items()} == {
        i: set(g) for i, g in TINY_GENRES.items()
    }


# --- the registry -----------------------------------------------------------------------------


def test_registry_has_the_official_archives() -> None:
    assert {"ml-100k", "ml-1m", "ml-20m"} <= set(REGISTRY)
    for name, spec in REGISTRY.items():
        assert spec.url == f"https://files.grouplens.org/datasets/movielens/{name}.zip"
        assert spec.archive_name == f"{name}.zip" and spec.folder == name
        assert spec.ratings_format in movielens.RATINGS_FORMATS
        assert spec.items_format in movielens.ITEMS_FORMATS
    assert REGISTRY["ml-100k"].checksum == Checksum(
        "sha256", "50d2a982c66986937beb9ffb3aa76efe955bf3d5c6b761f4e3a7cd717c6a3229"
    )
    assert REGISTRY["ml-1m"].checksum == Checksum(
        "sha256", "a6898adb50b9ca05aa231689da44c217cb524e7ebd39d264c56e2832f2c54e20"
    )
    assert REGISTRY["ml-20m"].checksum == Checksum("md5", "cd245b17a1ae2cc31bb14903e1204af3")
    assert REGISTRY["ml-100k"].expected == ExpectedCounts(100_000, 943, 1_682, 1_682)


def test_unknown_dataset_lists_the_known_ones() -> None:
    with pytest.raises(UnknownDatasetError, match="ml-100k, ml-1m, ml-20m, synthetic"):
        load_dataset("ml-42m")
    with pytest.raises(UserError, match="known datasets: ml-100k, ml-1m, ml-20m"):
        load_movielens("ml-42m")


# --- finding local copies -----------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["100k", "1m", "20m"])
def test_reads_each_format_from_an_extracted_folder(
    fmt: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_folder(tmp_path / "data", fmt)
    monkeypatch.setenv("HYDRAREC_DATA", str(tmp_path / "data"))
    data = load_movielens(tiny_spec(fmt), download=False)
    check_tiny(data)
    assert data.location == f"{tmp_path / 'data' / 'tiny'} (extracted folder, from HYDRAREC_DATA)"


def test_reads_a_verified_zip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    checksum = write_zip(tmp_path / "data" / "tiny.zip")
    monkeypatch.setenv("HYDRAREC_DATA", str(tmp_path / "data"))
    data = load_movielens(tiny_spec(checksum=checksum), download=False)
    check_tiny(data)
    assert "tiny.zip (zip archive, from HYDRAREC_DATA)" in data.location


def test_data_variable_may_be_the_extracted_folder_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = write_folder(tmp_path)
    monkeypatch.setenv("HYDRAREC_DATA", str(folder))
    check_tiny(load_movielens(tiny_spec(), download=False))


def test_reads_the_cache(tmp_path: Path) -> None:
    checksum = write_zip(tmp_path / "cache" / "hydrarec" / "tiny.zip")
    data = load_movielens(tiny_spec(checksum=checksum), download=False)
    check_tiny(data)
    assert "from the cache" in data.location


# --- bad local copies: a clear error, and nothing deleted -----------------------------------


def test_wrong_checksum_names_both_hashes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = tmp_path / "data" / "tiny.zip"
    actual = write_zip(archive).hexdigest
    expected = "0" * 64
    monkeypatch.setenv("HYDRAREC_DATA", str(tmp_path / "data"))
    with pytest.raises(ChecksumError) as caught:
        load_movielens(tiny_spec(checksum=Checksum("sha256", expected)))
    message = str(caught.value)
    assert expected in message and actual in message and str(archive) in message
    assert caught.value.expected == expected and caught.value.actual == actual
    assert archive.is_file(), "a local copy is never deleted"


def test_md5_checksums_are_supported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = tmp_path / "data" / "tiny.zip"
    write_zip(archive)
    md5 = hashlib.md5(archive.read_bytes()).hexdigest()
    monkeypatch.setenv("HYDRAREC_DATA", str(tmp_path / "data"))
    check_tiny(load_movielens(tiny_spec(checksum=Checksum("md5", md5)), download=False))
    with pytest.raises(ChecksumError, match=f"md5 {md5}"):
        load_movielens(tiny_spec(checksum=Checksum("md5", "f" * 32)), download=False)


def test_truncated_zip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = tmp_path / "data" / "tiny.zip"
    checksum = write_zip(archive)
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    monkeypatch.setenv("HYDRAREC_DATA", str(tmp_path / "data"))
    # With a published checksum, the checksum catches it (and says the size).
    with pytest.raises(ChecksumError, match="truncated"):
        load_movielens(tiny_spec(checksum=checksum), download=False)
    # Without one, the zip reader does.
    with pytest.raises(CorruptDataError, match="not a complete zip archive.*truncated"):
        load_movielens(tiny_spec(), download=False)
    assert archive.is_file()


def test_zip_missing_a_member(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = tiny_files("100k")
    del files["u.item"]
    write_zip(tmp_path / "data" / "tiny.zip", files=files)
    monkeypatch.setenv("HYDRAREC_DATA", str(tmp_path / "data"))
    with pytest.raises(CorruptDataError, match=r"does not contain tiny/u\.item"):
        load_movielens(tiny_spec(), download=False)


def test_extracted_folder_missing_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = tiny_files("100k")
    del files["u.data"]
    folder = write_folder(tmp_path / "data", files=files)
    monkeypatch.setenv("HYDRAREC_DATA", str(tmp_path / "data"))
    with pytest.raises(CorruptDataError) as caught:
        load_movielens(tiny_spec(), download=False)
    assert f"the folder {folder} has no u.data" in str(caught.value)
    assert "tiny.zip" in str(caught.value)
    # The metadata alone is still readable from that partial folder (like ../shared/data/ml-1m).
    assert len(load_item_metadata(tiny_spec(), download=False)) == 6


@pytest.mark.parametrize(
    ("fmt", "line", "bad", "expected_line"),
    [
        ("100k", 3, b"2\t4\tthree\t500", 3),
        ("100k", 1, b"1\t3\t4\t1000\t7", 1),  # an extra field on the first line
        ("100k", 5, b"2\t4\t3\t500\t7", 5),  # an extra field further down
        ("100k", 2, b"# a comment", 2),
        ("100k", 4, b"", 4),  # a blank line in the middle
        ("100k", 6, b"0\t4\t3\t500", 6),  # user 0 does not exist in MovieLens
        ("1m", 7, b"2;4;3;500", 7),  # ';' instead of '::'
        ("1m", 13, b"9::1::3", 13),  # a field missing on the last line
        ("20m", 4, b"1,2,3.0,abc", 5),  # line 1 is the header
    ],
)
def test_malformed_line_names_file_and_line(
    fmt: str,
    line: int,
    bad: bytes,
    expected_line: int,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    files = tiny_files(fmt)
    ratings_name = FILES[fmt][0]
    lines = files[ratings_name].split(b"\n")
    lines[line - 1 + (fmt == "20m")] = bad
    files[ratings_name] = b"\n".join(lines)
    folder = write_folder(tmp_path / "data", files=files)
    monkeypatch.setenv("HYDRAREC_DATA", str(tmp_path / "data"))
    with pytest.raises(MalformedLineError) as caught:
        load_movielens(tiny_spec(fmt), download=False)
    assert caught.value.line == expected_line
    assert caught.value.path == str(folder / ratings_name)
    assert str(caught.value).startswith(f"{folder / ratings_name}, line {expected_line}: ")


def test_malformed_metadata_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = tiny_files("1m")
    files["movies.dat"] = files["movies.dat"].replace(b"2::Mis", b"2:Mis")
    folder = write_folder(tmp_path / "data", "1m", files=files)
    monkeypatch.setenv("HYDRAREC_DATA", str(tmp_path / "data"))
    with pytest.raises(MalformedLineError, match=f"{folder / 'movies.dat'}, line 2: expected 3"):
        load_movielens(tiny_spec("1m"), download=False)


@pytest.mark.parametrize("fmt", ["100k", "20m"])
def test_empty_ratings_file(fmt: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = tiny_files(fmt)
    ratings_name = FILES[fmt][0]
    files[ratings_name] = b"userId,movieId,rating,timestamp\n" if fmt == "20m" else b""
    folder = write_folder(tmp_path / "data", fmt, files=files)
    monkeypatch.setenv("HYDRAREC_DATA", str(tmp_path / "data"))
    with pytest.raises(CorruptDataError, match=f"{folder / ratings_name} is empty"):
        load_movielens(tiny_spec(fmt), download=False)


def test_parsers_accept_crlf_and_trailing_blank_lines() -> None:
    table = movielens.parse_u_data(b"1\t2\t3\t4\r\n5\t6\t7\t8\r\n\r\n\n", "u.data")
    assert table.values.tolist() == [[1, 2, 3, 4], [5, 6, 7, 8]]
    csv_bytes = b"userId,movieId,rating,timestamp\r\n1,2,3.5,4\r\n"
    assert movielens.parse_ratings_csv(csv_bytes, "ratings.csv")["rating"].tolist() == [3.5]
    with pytest.raises(CorruptDataError, match="has a header but no ratings"):
        movielens.parse_ratings_csv(b"userId,movieId,rating,timestamp\n\n", "ratings.csv")
    with pytest.raises(MalformedLineError, match="line 1: expected the header"):
        movielens.parse_ratings_csv(b"1,2,3.5,4\n", "ratings.csv")


#: Binary garbage: what a disk error or a wrong download leaves (starts with a UTF-16 mark).
GARBAGE = b"\xff\xfe\x00\x01" + np.random.default_rng(0).bytes(4096)


@pytest.mark.parametrize(
    ("fmt", "member", "garbage", "where"),
    [
        ("100k", "u.data", GARBAGE, "byte 0xff on line 1"),
        ("1m", "ratings.dat", GARBAGE, "byte 0xff on line 1"),
        ("20m", "ratings.csv", GARBAGE, "byte 0xff on line 1"),
        ("20m", "ratings.csv", b"userId,movieId,rating,timestamp\n1,2,3.0,4\n" + GARBAGE, "line 3"),
        ("100k", "u.data", b"1\t2\t3\t4\n" * 3 + b"\x00" * 64, "byte 0x00 on line 4"),
        ("100k", "u.item", GARBAGE, "byte 0x00 on line 1"),
        ("1m", "movies.dat", b"1::Toy Story (1995)::Comedy\n" + GARBAGE, "on line 2"),
        ("20m", "movies.csv", b"movieId,title,genres\n\xff\xfe", "byte 0xff on line 2"),
    ],
    ids=[
        "u.data",
        "ratings.dat",
        "ratings.csv",
        "csv-after-2-lines",
        "nul-bytes",
        "u.item",
        "movies.dat",
        "movies.csv",
    ],
)
def test_binary_garbage_is_not_a_text_file(
    fmt: str,
    member: str,
    garbage: bytes,
    where: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    files = tiny_files(fmt) | {member: garbage}
    folder = write_folder(tmp_path / "data", fmt, files=files)
    monkeypatch.setenv("HYDRAREC_DATA", str(tmp_path / "data"))
    with pytest.raises(CorruptDataError) as caught:
        load_movielens(tiny_spec(fmt), download=False)
    message = str(caught.value)
    assert message.startswith(f"{folder / member} is not a ")
    assert " text " in message and where in message
    assert message.endswith(f"; replace the file with the one in {tiny_spec(fmt).url}")


def test_data_command_reports_garbage_in_one_line(tmp_path: Path) -> None:
    """The real process on an ml-100k folder whose u.data is binary: one line, no traceback."""
    folder = tmp_path / "data" / "ml-100k"
    folder.mkdir(parents=True)
    (folder / "u.data").write_bytes(GARBAGE)
    (folder / "u.item").write_bytes(tiny_files("100k")["u.item"])
    result = subprocess.run(
        [sys.executable, "-m", "hydrarec_minimal", "data", "ml-100k"],
        env={**os.environ, "HYDRAREC_DATA": str(tmp_path / "data")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith(f"error: {folder / 'u.data'} is not a text ratings file")
    assert result.stderr.rstrip().endswith(REGISTRY["ml-100k"].url)


def test_wrong_counts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = tiny_files("100k")
    files["u.data"] = files["u.data"].rsplit(b"\n", 2)[0] + b"\n"  # the last line is cut off
    write_folder(tmp_path / "data", files=files)
    monkeypatch.setenv("HYDRAREC_DATA", str(tmp_path / "data"))
    with pytest.raises(CorruptDataError, match="has 12 ratings .* the official file has 13"):
        load_movielens(tiny_spec(), download=False)


def test_edited_file_is_caught_by_its_hash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    original = tiny_files("1m")["movies.dat"]
    files = tiny_files("1m")
    files["movies.dat"] = original.replace("Misérables".encode("latin-1"), b"Miserables")
    write_folder(tmp_path / "data", "1m", files=files)
    monkeypatch.setenv("HYDRAREC_DATA", str(tmp_path / "data"))
    spec = tiny_spec("1m", file_sha256={"movies.dat": hashlib.sha256(original).hexdigest()})
    with pytest.raises(ChecksumError, match="movies.dat has sha256 .* accents stripped"):
        load_movielens(spec, download=False)


def test_data_variable_naming_a_missing_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "no-such-folder"
    monkeypatch.setenv("HYDRAREC_DATA", str(missing))
    with pytest.raises(DataNotFoundError, match=f"HYDRAREC_DATA={missing} is not a folder"):
        load_movielens(tiny_spec())


# --- downloading ------------------------------------------------------------------------------


def test_no_network_says_what_to_do(tmp_path: Path) -> None:
    url = closed_port_url()
    with pytest.raises(DataNotFoundError) as caught:
        load_movielens(tiny_spec(url=url))
    message = str(caught.value)
    assert url in message
    assert "put tiny.zip (or its extracted folder tiny/ with u.data and u.item)" in message
    assert "set HYDRAREC_DATA to that folder" in message
    assert list((tmp_path / "cache" / "hydrarec").iterdir()) == [], "no partial file is left"


def test_download_end_to_end(http_server: tuple[str, Path], tmp_path: Path) -> None:
    base, served = http_server
    checksum = write_zip(served / "tiny.zip")
    spec = tiny_spec(url=f"{base}/tiny.zip", checksum=checksum)
    data = load_movielens(spec)
    check_tiny(data)
    cached = tmp_path / "cache" / "hydrarec" / "tiny.zip"
    assert data.location == f"{cached} (zip archive, downloaded into the cache)"
    assert cached.read_bytes() == (served / "tiny.zip").read_bytes()
    assert sorted(p.name for p in cached.parent.iterdir()) == ["tiny.zip"]
    # The second time it comes from the cache (the server has nothing any more).
    (served / "tiny.zip").unlink()
    assert "from the cache" in load_movielens(spec).location


def test_download_with_wrong_checksum_keeps_nothing(
    http_server: tuple[str, Path], tmp_path: Path
) -> None:
    base, served = http_server
    actual = write_zip(served / "tiny.zip").hexdigest
    expected = "a" * 64
    spec = tiny_spec(url=f"{base}/tiny.zip", checksum=Checksum("sha256", expected))
    with pytest.raises(ChecksumError) as caught:
        load_movielens(spec)
    assert expected in str(caught.value) and actual in str(caught.value)
    assert f"{base}/tiny.zip" in str(caught.value)
    assert list((tmp_path / "cache" / "hydrarec").iterdir()) == []


def test_download_http_error(http_server: tuple[str, Path]) -> None:
    base, _ = http_server
    with pytest.raises(DataNotFoundError, match=f"{base}/tiny.zip: HTTP 404 File not found"):
        load_movielens(tiny_spec(url=f"{base}/tiny.zip"))


# --- load_dataset: the loud synthetic fallback, and strict mode -----------------------------


@pytest.fixture
def unreachable_ml100k(monkeypatch: pytest.MonkeyPatch) -> str:
    """ml-100k's URL replaced by a closed port on 127.0.0.1 (so nothing is downloaded)."""
    url = closed_port_url()
    monkeypatch.setitem(REGISTRY, "ml-100k", dataclasses.replace(REGISTRY["ml-100k"], url=url))
    return url


def test_fallback_is_loud_and_recorded(
    unreachable_ml100k: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.warns(SyntheticDataWarning, match="synthetic data instead of ml-100k"):
        dataset = load_dataset("ml-100k")
    banner = capsys.readouterr().err
    assert "WARNING: USING SYNTHETIC DATA, NOT MOVIELENS" in banner
    assert banner.count("\n") >= 6 and unreachable_ml100k in banner
    assert dataset.is_synthetic and dataset.source == "synthetic" and dataset.name == "ml-100k"
    assert unreachable_ml100k in (dataset.fallback_reason or "")
    summary = dataset_summary(dataset)
    assert summary["is_synthetic"] is True and summary["fallback_reason"]


def test_strict_mode_turns_the_fallback_into_an_error(
    unreachable_ml100k: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HYDRAREC_STRICT_DATA", "1")
    with pytest.raises(DataNotFoundError, match=unreachable_ml100k):
        load_dataset("ml-100k")
    monkeypatch.delenv("HYDRAREC_STRICT_DATA")
    with pytest.raises(DataNotFoundError):
        load_dataset("ml-100k", allow_synthetic=False)


def test_asking_for_synthetic_is_not_a_fallback(recwarn: pytest.WarningsRecorder) -> None:
    dataset = load_dataset("synthetic")
    assert dataset.is_synthetic and dataset.fallback_reason is None
    assert not [w for w in recwarn if issubclass(w.category, SyntheticDataWarning)]


# --- the data command -------------------------------------------------------------------------


def test_data_command_fails_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HYDRAREC_DATA", str(tmp_path / "nowhere"))
    assert main(["data", "ml-100k"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: HYDRAREC_DATA=") and err.count("\n") == 1
    assert main(["data", "ml-42m"]) == 1
    assert "known datasets: ml-100k, ml-1m, ml-20m, synthetic" in capsys.readouterr().err


def test_data_command_never_falls_back(
    unreachable_ml100k: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["data", "ml-100k", "--json"]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and unreachable_ml100k in captured.err
    assert "SYNTHETIC" not in captured.err


def test_data_command_process_exit_code(tmp_path: Path) -> None:
    """The real process: exit code 1 and no traceback."""
    env = {**os.environ, "HYDRAREC_DATA": str(tmp_path / "nowhere")}
    result = subprocess.run(
        [sys.executable, "-m", "hydrarec_minimal", "data", "ml-100k"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "is not a folder" in result.stderr


# --- real MovieLens (HYDRAREC_DATA) -----------------------------------------------------------


def test_ml100k_loads_with_the_official_counts(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real_data(monkeypatch, "ml-100k", "u.data")
    dataset = load_dataset("ml-100k", allow_synthetic=False)
    assert (dataset.num_users, dataset.num_items, dataset.num_interactions) == (943, 1682, 100000)
    assert not dataset.is_synthetic and dataset.source == "ml-100k"
    assert len(dataset.split.eval_users) == 943
    assert dataset.item_ids.tolist() == list(range(1683)), "all items rated: new id = old id"
    assert dataset.titles[543] == "Misérables, Les (1995)"
    assert dataset.titles[1633] == "Á köldum klaka (Cold Fever) (1994)"
    assert dataset.genres[1] == ("Animation", "Children's", "Comedy")
    assert dataset.years[1] == 1995 and dataset.years[267] == 0  # 267 is "unknown"
    first, last = dataset.time_span
    assert (first.isoformat(), last.isoformat()) == (
        "1997-09-20T03:05:10+00:00",
        "1998-04-22T23:10:38+00:00",
    )
    assert main(["data", "ml-100k", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["num_users"], summary["num_items"], summary["num_interactions"]) == (
        943,
        1682,
        100000,
    )


def test_ml100k_test_item_is_each_users_latest_interaction(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_data(monkeypatch, "ml-100k", "u.data")
    dataset = load_dataset("ml-100k", allow_synthetic=False)
    # Independently of the package: pandas reads u.data, sorts by (time, item id) per user.
    raw = pd.read_csv(
        Path(os.environ["HYDRAREC_DATA"]) / "ml-100k" / "u.data",
        sep="\t",
        names=["user", "item", "rating", "time"],
    ).sort_values(["user", "time", "item"])
    last_two = raw.groupby("user").tail(2).groupby("user")["item"].agg(list)
    assert dataset.user_ids.tolist() == last_two.index.tolist()
    originals = dataset.item_ids
    assert originals[dataset.split.test_target].tolist() == [pair[1] for pair in last_two]
    assert originals[dataset.split.valid_target].tolist() == [pair[0] for pair in last_two]
    # Latest means latest: no training item of any user is later than their test item.
    for user in range(dataset.num_users):
        times = dataset.timestamps[user]
        assert times[-1] == times.max() and np.all(np.diff(times) >= 0)
    # And the tie-break is needed: many users rated several movies in their last second.
    tied = sum(int(t[-1] == t[-2]) for t in dataset.timestamps)
    assert tied > 50


def test_ml1m_movies_parse_with_accents(monkeypatch: pytest.MonkeyPatch) -> None:
    real_data(monkeypatch, "ml-1m", "movies.dat")
    movies = load_item_metadata("ml-1m", download=False).set_index("item_id")
    assert len(movies) == 3883
    assert movies.index.min() == 1 and movies.index.max() == 3952
    assert movies.loc[73, "title"] == "Misérables, Les (1995)"
    assert movies.loc[1320, "title"] == "Alien³ (1992)"
    assert movies.loc[2175, "title"] == "Déjà Vu (1997)"
    assert movies.loc[3845, "title"] == "And God Created Woman (Et Dieu&#8230;Créa la Femme) (1956)"
    assert movies.loc[1, "genres"] == ("Animation", "Children's", "Comedy")
    assert movies.loc[1320, "year"] == 1992
    assert not movies["title"].str.contains("\ufffd").any()
