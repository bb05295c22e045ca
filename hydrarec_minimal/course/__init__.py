"""Course tooling: experiments, the command line, reports, plots and measurements.

The notebooks and ``python -m hydrarec_minimal`` use it; the core package never imports it.
"""

from hydrarec_minimal import __version__

#: The repository's public address (owner/name on GitHub), used by every badge and install cell.
REPOSITORY = "hydrarec-tutorial/hydrarec-tutorial"

#: The git tag of this release; on Colab the notebooks install the package from it.
RELEASE_TAG = f"v{__version__}"
