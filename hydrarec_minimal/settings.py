"""Settings read from the environment.

``HYDRAREC_QUICK=1``: notebooks and training shrink to a smoke run (pytest sets it).
``HYDRAREC_STRICT_DATA=1``: never fall back to synthetic data. ``HYDRAREC_DATA``: a folder
holding MovieLens, searched first. ``HYDRAREC_MIRRORS``: base URLs tried after GroupLens.
"""

from __future__ import annotations

import os

DATA_ENV = "HYDRAREC_DATA"
MIRRORS_ENV = "HYDRAREC_MIRRORS"


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def quick_mode() -> bool:
    return _flag("HYDRAREC_QUICK")


def strict_data() -> bool:
    return _flag("HYDRAREC_STRICT_DATA")
