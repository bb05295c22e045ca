"""Settings read from the environment (the names are a contract, see DESIGN.md).

- ``HYDRAREC_QUICK=1``: notebooks and training shrink to a quick smoke run (same code paths,
  fewer epochs, users and sizes). pytest turns it on by default (see ``conftest.py``).
- ``HYDRAREC_STRICT_DATA=1``: never fall back to synthetic data; missing MovieLens is an error.
- ``HYDRAREC_DATA``: a folder holding MovieLens (zips or extracted folders), searched first.
"""

from __future__ import annotations

import os

from hydrarec_minimal import __version__

#: The repository's public address (owner/name on GitHub), used by every badge and install cell.
REPOSITORY = "hydrarec-tutorial/hydrarec-tutorial"

#: The git tag of this release, ``v`` + the package version. On Colab the notebooks install the
#: package (and fetch the results files) from this tag, so that a notebook always runs with
#: the code it was written for; tag every release with it (CHANGELOG.md).
RELEASE_TAG = f"v{__version__}"


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def quick_mode() -> bool:
    """True when ``HYDRAREC_QUICK`` is set to 1 (or true/yes/on): shrink work for CI."""
    return _flag("HYDRAREC_QUICK")


def strict_data() -> bool:
    """True when ``HYDRAREC_STRICT_DATA`` is set to 1: missing MovieLens is an error."""
    return _flag("HYDRAREC_STRICT_DATA")
