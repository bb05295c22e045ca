"""Download a MovieLens archive with pooch: GroupLens first, then each ``HYDRAREC_MIRRORS`` base.

The published checksum is the authority: a file is kept only if it matches, so a source whose
TLS certificate cannot be verified is tried again without verification. Transient failures are
retried (``DOWNLOAD_POLICY``); if every source fails, the error names each one and why.
"""

from __future__ import annotations

import hashlib
import os
import ssl
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from tqdm import tqdm

from hydrarec_minimal.errors import ChecksumError, DataNotFoundError
from hydrarec_minimal.settings import DATA_ENV, MIRRORS_ENV

if TYPE_CHECKING:
    from hydrarec_minimal.movielens import DatasetSpec


def file_checksum(path: Path, algorithm: str) -> str:
    """Hex digest of a file, read in 1 MiB chunks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


#: A third party's copy of the MovieLens archives (the Recommenders project), for the advice.
RECOMMENDERS_MIRROR = "https://huggingface.co/datasets/Recommenders/MovieLens/resolve/main"


@dataclass(frozen=True)
class DownloadPolicy:
    """``attempts`` tries per source, waiting ``delay_s``, then twice that...; only transient
    failures (no connection, timeout, HTTP 5xx)."""

    attempts: int = 3
    delay_s: float = 0.5
    timeout_s: float = 30.0


DOWNLOAD_POLICY = DownloadPolicy()


@dataclass
class _SourceError(Exception):
    """One try of one source failed: ``reason`` for people, and what kind of failure."""

    reason: str
    transient: bool = False
    certificate: bool = False
    checksum: ChecksumError | None = None


def _causes(error: BaseException) -> list[BaseException]:
    """``error`` and its causes, outermost first (requests -> urllib3 -> socket/ssl)."""
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in chain:
        chain.append(current)
        first = current.args[0] if current.args else None
        links = (getattr(current, "reason", None), current.__cause__, current.__context__, first)
        current = next((e for e in links if isinstance(e, BaseException)), None)
    return chain


def _describe(error: BaseException) -> str:
    """A short reason: the innermost OS error's text, e.g. "Connection refused"."""
    for cause in reversed(_causes(error)):
        if isinstance(cause, ssl.SSLCertVerificationError):
            return cause.verify_message or str(cause)
        if isinstance(cause, OSError) and cause.strerror:
            return cause.strerror
    import requests

    if isinstance(error, requests.exceptions.Timeout):
        return "timed out"
    return str(error) or type(error).__name__


def _check_download(spec: DatasetSpec, path: Path) -> None:
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
    """Download ``url`` to ``destination`` once, or raise ``_SourceError``."""
    known_hash = f"{spec.checksum.algorithm}:{spec.checksum.hexdigest}" if spec.checksum else None
    # Imported only when needed: pooch imports tqdm.auto (warns in Jupyter without ipywidgets)
    import pooch
    import requests
    import urllib3

    logger = pooch.get_logger()
    level = logger.level
    what = f"downloading {spec.archive_name} from {urlparse(url).hostname}"
    bar = {"unit": "B", "unit_scale": True, "unit_divisor": 1024, "leave": False}
    # total: pooch sets the served size but needs a truthy one; delay: no bar for failed tries
    with (
        tqdm(total=spec.size_bytes or 1, delay=0.5, desc=what, file=sys.stderr, **bar) as progress,
        warnings.catch_warnings(),
    ):
        if not verify:  # only for this try, whose file is kept only if its checksum matches
            warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
        agent = {"User-Agent": "hydrarec_minimal"}
        http = pooch.HTTPDownloader(
            progressbar=progress, verify=verify, timeout=policy.timeout_s, headers=agent
        )

        def download(url: str, output_file: str, pooch_object: object, check_only=False):
            """pooch's download, then our check: its error gives both hashes."""
            http(url, output_file, pooch_object)
            _check_download(spec, Path(output_file))

        logger.setLevel("WARNING")  # pooch's "Downloading data from ..." lines
        try:
            place = {"fname": destination.name, "path": destination.parent}
            pooch.retrieve(url, known_hash=known_hash, downloader=download, **place)
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
    """Download the archive to ``destination`` from the first source that serves the
    published checksum. If every source fails: ``ChecksumError`` when one served a wrong
    file, else ``DataNotFoundError``."""

    policy = policy or DOWNLOAD_POLICY
    try:
        destination.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DataNotFoundError(
            f"cannot write to the cache folder {destination.parent} ({error}): download "
            f"{spec.url} yourself, put it in a folder and set {DATA_ENV} to that folder"
        ) from None
    mirrors = os.environ.get(MIRRORS_ENV, "").split()
    failures: list[tuple[str, _SourceError]] = []
    for url in [spec.url] + [f"{base.rstrip('/')}/{spec.archive_name}" for base in mirrors]:
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
