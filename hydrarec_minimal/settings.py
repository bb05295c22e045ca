"""Settings read from the environment.

- ``HYDRAREC_QUICK=1``: notebooks and training shrink to a quick smoke run (pytest sets it).
- ``HYDRAREC_STRICT_DATA=1``: never fall back to synthetic data; missing MovieLens is an error.
- ``HYDRAREC_DATA``: a folder holding MovieLens (zips or extracted folders), searched first.
- ``HYDRAREC_MIRRORS``: space-separated base URLs tried after GroupLens.
"""

from __future__ import annotations

import os

from hydrarec_minimal import __version__

DATA_ENV = "HYDRAREC_DATA"
MIRRORS_ENV = "HYDRAREC_MIRRORS"

#: The repository's public address (owner/name on GitHub), used by every badge and install cell.
REPOSITORY = "hydrarec-tutorial/hydrarec-tutorial"

#: The git tag of this release; on Colab the notebooks install the package from it.
RELEASE_TAG = f"v{__version__}"


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def quick_mode() -> bool:
    """True when ``HYDRAREC_QUICK`` is 1 (or true/yes/on): shrink work for CI."""
    return _flag("HYDRAREC_QUICK")


def strict_data() -> bool:
    """True when ``HYDRAREC_STRICT_DATA`` is 1: missing MovieLens is an error."""
    return _flag("HYDRAREC_STRICT_DATA")
