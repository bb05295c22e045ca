"""Downloads when a certificate fails: the published checksum decides, then the mirrors.

Real downloads, nothing mocked: HTTPS servers on 127.0.0.1 whose certificates come from a test
CA made here with trustme (untrusted unless a test trusts it, which is what an expired or
otherwise broken certificate looks like to a client), serving a small archive built here and
described by its own registry entry. The data command and ``load_movielens`` run unchanged.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import functools
import hashlib
import http.server
import ssl
import threading
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
import urllib3
from test_movielens import check_tiny, closed_port_url, tiny_files

from hydrarec_minimal import download
from hydrarec_minimal.course.cli import main
from hydrarec_minimal.errors import ChecksumError, DataError, DataNotFoundError
from hydrarec_minimal.movielens import REGISTRY, Checksum, DatasetSpec, load_movielens

NAME = "tiny-download"
ARCHIVE = f"{NAME}.zip"
UNVERIFIED = "TLS certificate could not be verified"


def write_archive(path: Path, *, tampered: bool = False) -> str:
    """The fixture archive (``tiny-download/u.data``, ``u.item``) at ``path``; its sha256."""
    files = tiny_files("100k")
    if tampered:  # one rating changed: a valid archive, but not the published one
        files["u.data"] = files["u.data"].replace(b"1\t3\t4\t1000", b"1\t3\t5\t1000")
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(f"{NAME}/{name}", data)
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def published(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Register the fixture archive under ``NAME`` with its own checksum; return the sha256."""
    sha256 = write_archive(tmp_path / "original" / ARCHIVE)
    spec = DatasetSpec(
        name=NAME,
        title="Tiny download test data",
        url=closed_port_url().replace("http:", "https:").replace("tiny.zip", ARCHIVE),
        checksum=Checksum("sha256", sha256),
        size_bytes=None,
        folder=NAME,
        ratings_file="u.data",
        items_file="u.item",
        ratings_format="u.data",
        items_format="u.item",
    )
    monkeypatch.setitem(REGISTRY, NAME, spec)
    return sha256


def set_url(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``url`` the fixture dataset's primary ("GroupLens") source."""
    monkeypatch.setitem(REGISTRY, NAME, dataclasses.replace(REGISTRY[NAME], url=url))


@pytest.fixture(autouse=True)
def isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Empty private cache, no data folder or mirrors, system CAs only, no waiting on retries."""
    for name in ("HYDRAREC_DATA", "HYDRAREC_MIRRORS", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setattr(
        download, "DOWNLOAD_POLICY", download.DownloadPolicy(delay_s=0, timeout_s=5)
    )


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    """A certificate authority no client trusts unless told to (``trust``)."""
    return trustme.CA()


def trust(ca: trustme.CA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tell requests to trust ``ca`` (the way a user would: ``REQUESTS_CA_BUNDLE``)."""
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))


@contextlib.contextmanager
def https_server(folder: Path, certificate: trustme.LeafCert) -> Iterator[str]:
    """Serve ``folder`` over HTTPS on 127.0.0.1 with ``certificate``; yield the base URL."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    certificate.configure_cert(context)
    handler = functools.partial(Quiet, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def expired(ca: trustme.CA) -> trustme.LeafCert:
    """A certificate for 127.0.0.1 from ``ca`` that expired yesterday."""
    now = datetime.datetime.now(datetime.timezone.utc)
    return ca.issue_cert(
        "127.0.0.1",
        not_before=now - datetime.timedelta(days=30),
        not_after=now - datetime.timedelta(days=1),
    )


def cached_files(tmp_path: Path) -> list[str]:
    """Names in the download cache (none when nothing was kept)."""
    cache = tmp_path / "cache" / "hydrarec"
    return sorted(p.name for p in cache.iterdir()) if cache.is_dir() else []


@pytest.mark.parametrize("problem", ["untrusted CA", "expired certificate"])
def test_certificate_error_then_unverified_download_accepted_by_its_hash(
    problem: str,
    published: str,
    ca: trustme.CA,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    if problem == "expired certificate":
        trust(ca, tmp_path, monkeypatch)
        certificate, reason = expired(ca), "certificate has expired"
    else:
        certificate, reason = ca.issue_cert("127.0.0.1"), "unable to get local issuer certificate"
    with (
        https_server(tmp_path / "original", certificate) as base,
        warnings.catch_warnings(record=True) as caught,
    ):
        warnings.simplefilter("always")
        set_url(f"{base}/{ARCHIVE}", monkeypatch)
        assert main(["data", NAME]) == 0
    out, err = capsys.readouterr()
    notes = [line for line in err.replace("\r", "\n").splitlines() if UNVERIFIED in line]
    assert notes == [
        f"127.0.0.1's {UNVERIFIED} ({reason}); downloading without verification, accepted "
        f"only if its sha256 matches the published one"
    ]
    assert not [w for w in caught if issubclass(w.category, urllib3.exceptions.HTTPWarning)]
    assert "downloaded into the cache" in out
    assert cached_files(tmp_path) == [ARCHIVE]
    check_tiny(load_movielens(NAME))


def test_tampered_archive_is_refused_and_not_kept(
    published: str,
    ca: trustme.CA,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    served = tmp_path / "tampered"
    actual = write_archive(served / ARCHIVE, tampered=True)
    with https_server(served, ca.issue_cert("127.0.0.1")) as base:
        set_url(f"{base}/{ARCHIVE}", monkeypatch)
        with pytest.raises(ChecksumError) as caught:
            load_movielens(NAME)
    error = caught.value
    assert (error.expected, error.actual) == (published, actual)
    assert published in str(error) and actual in str(error)
    assert f"{base}/{ARCHIVE}: {UNVERIFIED}" in str(error)
    assert cached_files(tmp_path) == [], "the tampered file is not kept"
    assert capsys.readouterr().err.count(UNVERIFIED) == 1


def test_dead_source_falls_through_to_a_mirror(
    published: str,
    ca: trustme.CA,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    trust(ca, tmp_path, monkeypatch)
    mirror = tmp_path / "mirror" / "movielens"
    write_archive(mirror / ARCHIVE)
    with https_server(tmp_path / "mirror", ca.issue_cert("127.0.0.1")) as base:
        monkeypatch.setenv("HYDRAREC_MIRRORS", f"{base}/nothing-here {base}/movielens/")
        check_tiny(load_movielens(NAME))
    assert cached_files(tmp_path) == [ARCHIVE]
    assert UNVERIFIED not in capsys.readouterr().err


def test_every_source_failing_names_each_source_and_why(
    published: str, ca: trustme.CA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    trust(ca, tmp_path, monkeypatch)
    write_archive(tmp_path / "served" / "tampered" / ARCHIVE, tampered=True)
    dead = REGISTRY[NAME].url
    with https_server(tmp_path / "served", ca.issue_cert("127.0.0.1")) as base:
        monkeypatch.setenv("HYDRAREC_MIRRORS", f"{base}/missing {base}/tampered")
        with pytest.raises(DataError) as caught:
            load_movielens(NAME)
    message = str(caught.value)
    assert isinstance(caught.value, ChecksumError), "one source served a wrong file"
    assert f"{dead}: Connection refused (3 attempts)" in message
    assert f"{base}/missing/{ARCHIVE}: HTTP 404 File not found" in message
    assert f"{base}/tampered/{ARCHIVE}: served a file with sha256" in message
    assert "set HYDRAREC_DATA to that folder" in message
    assert "\n" not in message
    assert cached_files(tmp_path) == []


def test_no_mirror_set_suggests_one(published: str) -> None:
    with pytest.raises(DataNotFoundError) as caught:
        load_movielens(NAME)
    message = str(caught.value)
    assert f"{REGISTRY[NAME].url}: Connection refused" in message
    assert f"export HYDRAREC_MIRRORS={download.RECOMMENDERS_MIRROR}" in message


def test_trusted_certificate_downloads_verified_without_a_warning(
    published: str,
    ca: trustme.CA,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    trust(ca, tmp_path, monkeypatch)
    with (
        https_server(tmp_path / "original", ca.issue_cert("127.0.0.1")) as base,
        warnings.catch_warnings(record=True) as caught,
    ):
        warnings.simplefilter("always")
        set_url(f"{base}/{ARCHIVE}", monkeypatch)
        assert main(["data", NAME]) == 0
    assert UNVERIFIED not in capsys.readouterr().err
    assert not [w for w in caught if issubclass(w.category, urllib3.exceptions.HTTPWarning)]
    assert cached_files(tmp_path) == [ARCHIVE]
