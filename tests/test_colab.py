"""The Colab install cell of every notebook works, in the kernel that runs it, and pins the release.

Each notebook's first code cell installs the package on Colab only. The test below runs
that cell for real in a fresh Jupyter kernel that believes it is on Colab, then imports the
package in the same kernel, as a learner does: an install that the running kernel cannot see
(an editable install, whose ``.pth`` file a running interpreter never reads) fails here.

The kernel's environment, built in a temporary folder (not this test environment, nor a venv
that sees it with ``--system-site-packages``: here the package is installed, editable, so it
would be importable before the cell ran and pip would find it installed already):

- a fresh virtual environment without pip or any package (``venv --without-pip``), so that
  ``%pip`` installs into a folder where ``hydrarec_minimal`` is not, and the kernel's Python
  is that environment's Python;
- the test environment's packages (ipykernel, pip, setuptools, numpy, ...) on ``PYTHONPATH``
  through a folder of links to them that leaves out every ``hydrarec_minimal`` entry (the
  package, its metadata, an editable install's finder and ``.pth`` file): the package is not
  importable before the cell runs (checked), and pip does not think it installed;
- a stand-in ``google.colab`` module, imported at kernel start by an IPython startup file
  (Colab's kernel has it imported);
- ``HYDRAREC_COLAB_SOURCE``: a local clone of this repository, with the release tag on its
  HEAD (the real tag need not exist yet); ``HYDRAREC_COLAB_DIR`` instead of ``/content``;
- pip without an index, its configuration files or build isolation: ``--no-deps`` must leave
  nothing to download, and the build uses the test environment's setuptools (the ``test``
  extra lists it). The whole test runs offline, in about 5 s per kernel.

The cells of notebooks 01-04 are alike, and so are those of 05-07: one kernel runs each
distinct cell text (twice, since a learner may run it again), so every notebook's text is run.
The cells of release 0.6.0 fail here: 05-07's editable install left the package unimportable
(ModuleNotFoundError) and their second run could not clone again ("already exists").
"""

from __future__ import annotations

import json
import os
import re
import shutil
import site
import subprocess
import venv
from pathlib import Path

import nbformat
import pytest

from hydrarec_minimal.course import REPOSITORY

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
VERSION = re.search(
    r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.MULTILINE
).group(1)
TAG = f"v{VERSION}"  # the release tag: "v" + the version in pyproject.toml, nothing else


def install_cell(path: Path) -> str:
    notebook = nbformat.read(path, as_version=4)
    return next(cell.source for cell in notebook.cells if cell.cell_type == "code")


def cells_and_their_notebooks() -> dict[str, list[str]]:
    """Each distinct install-cell text -> the notebooks that have it."""
    groups: dict[str, list[str]] = {}
    for path in NOTEBOOKS:
        groups.setdefault(install_cell(path), []).append(path.stem)
    return groups


def group_id(stems: list[str]) -> str:
    return "+".join(stem[:2] for stem in stems)


# ----------------------------------------------------------------------------------------------
# Static checks: the tag, the address, no dependency resolution, no editable install
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_install_cell_installs_the_release_tag_without_dependencies(path):
    source = install_cell(path)
    assert 'if "google.colab" in sys.modules:' in source
    assert f"https://github.com/{REPOSITORY}" in source
    tags = set(re.findall(r"\bv\d+\.\d+\.\d+\S*?\b", source))
    assert tags == {TAG}, f"{path.name}: install from {TAG} (pyproject.toml), not {tags}"
    assert re.search(r"\bmain\b", source) is None, f"{path.name}: never install from main"
    installs = [line for line in source.splitlines() if "pip install" in line]
    assert installs, f"{path.name}: no pip install"
    for line in installs:
        assert "--no-deps" in line, f"{path.name}: keep Colab's packages (--no-deps): {line}"
        assert not re.search(r"(\s-e\s|--editable)", line), (
            f"{path.name}: an editable install is invisible to the running kernel: {line}"
        )
    assert "HYDRAREC_COLAB_SOURCE" in source, f"{path.name}: the test needs this override"
    if re.search(r"!git\b.*\bclone\b", source):  # a copy of the course, for its files
        assert "HYDRAREC_COLAB_DIR" in source, f"{path.name}: the test needs this override"
        assert "if not os.path.isdir(" in source, f"{path.name}: a second clone would fail"


def test_every_badge_and_colab_link_names_the_release_tag():
    """README and notebooks: Colab and Binder open the notebooks of this release."""
    pattern = re.compile(
        r"https://(?:colab\.research\.google\.com/github|mybinder\.org/v2/gh)/"
        r"([\w.-]+/[\w.-]+)/(?:blob/)?([^/?]+)"
    )
    texts = {"README.md": (ROOT / "README.md").read_text()}
    texts |= {path.name: path.read_text() for path in NOTEBOOKS}
    for name, text in texts.items():
        links = pattern.findall(text)
        assert links, f"{name} has no Colab or Binder link"
        for repository, ref in links:
            assert (repository, ref) == (REPOSITORY, TAG), f"{name}: {repository}@{ref}"


# ----------------------------------------------------------------------------------------------
# The cell, run for real in a kernel that believes it is on Colab
# ----------------------------------------------------------------------------------------------


def run(*command: str | Path, cwd: Path | None = None) -> str:
    result = subprocess.run(
        [str(part) for part in command], cwd=cwd, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, f"{command}:\n{result.stdout}{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def colab(tmp_path_factory) -> dict[str, Path]:
    """What every kernel shares: the tagged clone, the stand-in Colab, the test packages."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs git and a git checkout of this repository")
    tmp = tmp_path_factory.mktemp("colab")

    # The "GitHub" repository: a clone of this checkout's HEAD, tagged with the release tag.
    origin = tmp / "origin"
    head = run("git", "-C", ROOT, "rev-parse", "HEAD").strip()
    run("git", "clone", "--quiet", "--no-checkout", ROOT, origin)
    run("git", "-C", origin, "tag", "--force", TAG, head)

    # Colab: `google.colab` exists and the kernel has imported it.
    google = tmp / "standin" / "google" / "colab"
    google.mkdir(parents=True)
    (google / "__init__.py").write_text('"""Stand-in for Colab\'s module."""\n')
    startup = tmp / "ipython" / "profile_default" / "startup"
    startup.mkdir(parents=True)
    (startup / "00-colab.py").write_text("import google.colab  # noqa: F401\n")

    # The test environment's packages, less every trace of hydrarec_minimal.
    packages = tmp / "packages"
    packages.mkdir()
    for folder in site.getsitepackages():
        for entry in sorted(Path(folder).iterdir()) if Path(folder).is_dir() else []:
            name = entry.name.lower()
            if name.startswith(("hydrarec_minimal", "hydrarec-minimal", "__editable__")):
                continue
            if not (packages / entry.name).exists():
                (packages / entry.name).symlink_to(entry)
    return {"tmp": tmp, "origin": origin, "standin": google.parent.parent, "packages": packages}


class Kernel:
    """A Jupyter kernel in a fresh virtual environment; `execute` returns its text output."""

    def __init__(self, colab: dict[str, Path], name: str):
        from jupyter_client.kernelspec import KernelSpecManager
        from jupyter_client.manager import KernelManager

        home = colab["tmp"] / name
        environment = home / "venv"
        venv.EnvBuilder(with_pip=False).create(environment)
        python = environment / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
        spec = home / "kernels" / "colab"
        spec.mkdir(parents=True)
        argv = [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"]
        (spec / "kernel.json").write_text(
            json.dumps({"argv": argv, "display_name": "Colab", "language": "python"})
        )
        self.content = home / "content"  # Colab's /content
        self.content.mkdir()
        self.site_packages = Path(
            run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").strip()
        )

        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("PIP_", "PYTHON", "VIRTUAL_ENV", "HYDRAREC_COLAB", "JUPYTER"))
        }
        env |= {
            "PYTHONPATH": os.pathsep.join([str(colab["standin"]), str(colab["packages"])]),
            "IPYTHONDIR": str(colab["tmp"] / "ipython"),
            "HYDRAREC_COLAB_SOURCE": colab["origin"].as_uri(),
            "HYDRAREC_COLAB_DIR": str(self.content),
            "PIP_CONFIG_FILE": os.devnull,  # no configuration file of this machine
            "PIP_NO_INDEX": "1",  # offline: --no-deps leaves nothing to download
            "PIP_NO_BUILD_ISOLATION": "0",  # pip's spelling of "build with what is installed"
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        }
        specs = KernelSpecManager(kernel_dirs=[str(home / "kernels")])
        self.manager = KernelManager(kernel_name="colab", kernel_spec_manager=specs)
        self.manager.start_kernel(cwd=str(self.content), env=env)
        self.client = self.manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=60)

    def execute(self, code: str) -> str:
        """Run code; return what it printed. Fails on an exception or an error message."""
        printed: list[str] = []

        def collect(message):
            content = message["content"]
            if message["msg_type"] == "stream":
                printed.append(content["text"])
            elif message["msg_type"] == "error":
                printed.append("\n".join(content["traceback"]))

        reply = self.client.execute_interactive(code, timeout=240, output_hook=collect)
        text = "".join(printed)
        assert reply["content"]["status"] == "ok", text
        errors = [line for line in text.splitlines() if re.search(r"fatal|error", line, re.I)]
        assert not errors, text  # `!git` and `%pip` print their failures but raise nothing
        return text

    def shutdown(self):
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)


PROBE = """\
import importlib.util, json, os
print(json.dumps({"importable": importlib.util.find_spec("hydrarec_minimal") is not None}))
"""

IMPORT = """\
import importlib.metadata, json, os
import hydrarec_minimal
print(json.dumps({
    "file": hydrarec_minimal.__file__,
    "version": hydrarec_minimal.__version__,
    "installed": importlib.metadata.version("hydrarec_minimal"),
    "cwd": os.getcwd(),
}))
"""


def last_json(text: str) -> dict:
    return json.loads(text.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "cell, notebooks",
    list(cells_and_their_notebooks().items()),
    ids=[group_id(stems) for stems in cells_and_their_notebooks().values()],
)
def test_install_cell_makes_the_package_importable_in_the_same_kernel(colab, cell, notebooks):
    kernel = Kernel(colab, group_id(notebooks))
    try:
        assert last_json(kernel.execute(PROBE)) == {"importable": False}, "already installed"
        for attempt in ("first run", "second run"):
            kernel.execute(cell)
            found = last_json(kernel.execute(IMPORT))
            where = Path(found["file"]).resolve()
            assert where.is_relative_to(kernel.site_packages.resolve()), (
                f"{notebooks}, {attempt}: imported {where}, not the installed copy"
            )
            assert found["version"] == found["installed"] == VERSION, (notebooks, attempt, found)
            if "clone" in cell:  # the notebook reads the results files of its own release
                course = Path(found["cwd"])
                assert course.name == "notebooks" and course.parent.parent == kernel.content
                tagged = run("git", "-C", course, "describe", "--tags", "--exact-match")
                assert tagged.strip() == TAG, (notebooks, attempt)
    finally:
        kernel.shutdown()
