"""Packaging promises: environment.yml and binder/ match pyproject.toml; the documented API
names exist; one ruff version."""

from __future__ import annotations

import inspect
import os
import re
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

import hydrarec_minimal
from hydrarec_minimal import attention

ROOT = Path(__file__).resolve().parents[1]

#: conda-forge names that differ from their PyPI names.
CONDA_TO_PYPI = {"pytorch-cpu": "torch", "pytorch": "torch"}


def requirement_name(requirement: str) -> str:
    """'torch>=2.1,<3' -> 'torch' (lower case, '_' as '-')."""
    return re.split(r"[<>=!~ \[;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


#: For conda users (installs the package from the checkout), and what Binder builds (whose
#: binder/postBuild installs the package).
ENVIRONMENTS = ["environment.yml", "binder/environment.yml"]


def environment_packages(name: str = "environment.yml") -> tuple[dict[str, str], list[str]]:
    """(conda package -> its line, pip lines) from a conda environment file, read without a YAML
    library."""
    conda, pip, in_pip = {}, [], False
    text = (ROOT / name).read_text()
    for line in text.split("\ndependencies:\n", 1)[1].splitlines():
        item = re.match(r"^(\s*)- (.+)$", line)
        if not item:
            continue
        indent, value = len(item.group(1)), item.group(2).strip()
        if value == "pip:":
            in_pip = True
        elif in_pip and indent > 2:
            pip.append(value)
        else:
            in_pip = False
            conda[CONDA_TO_PYPI.get(requirement_name(value), requirement_name(value))] = value
    return conda, pip


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_environment_yml_lists_the_same_runtime_and_notebook_packages_as_pyproject(name):
    """Whatever pyproject.toml lists, so a new dependency fails here until both files list it."""
    project = pyproject()["project"]
    wanted = project["dependencies"] + project["optional-dependencies"]["notebooks"]
    conda, _ = environment_packages(name)
    listed = set(conda) - {"python", "pip"}
    assert listed == {requirement_name(r) for r in wanted}


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_environment_yml_uses_the_same_version_ranges_and_cpu_pytorch(name):
    project = pyproject()["project"]
    ranges = {
        requirement_name(r): r[len(requirement_name(r)) :]
        for r in project["dependencies"] + project["optional-dependencies"]["notebooks"]
    }
    conda, _ = environment_packages(name)
    for package, line in conda.items():
        if package in ranges:
            assert line.endswith(ranges[package]), f"{line!r} vs pyproject {ranges[package]!r}"
    assert "pytorch-cpu" in conda["torch"], "Binder has no GPU: use the CPU build"


def test_environment_yml_allows_every_python_the_package_supports():
    conda, _ = environment_packages("environment.yml")
    assert conda["python"] == f"python{pyproject()['project']['requires-python']}"


def test_binder_environment_pins_a_supported_python():
    """repo2docker reads only `python=X.Y` as the Python to install (a range falls back to its
    default Python)."""
    conda, _ = environment_packages("binder/environment.yml")
    pinned = re.fullmatch(r"python=3\.(\d+)", conda["python"])
    assert pinned, f"pin Python as python=3.N, not {conda['python']!r}"
    floor = re.fullmatch(r">=3\.(\d+)", pyproject()["project"]["requires-python"])
    assert int(pinned.group(1)) >= int(floor.group(1))


def test_binder_environment_has_no_local_paths():
    """A local path (such as `pip: [-e .]`) makes repo2docker copy the repository in before
    building the environment, so every push rebuilds it; binder/postBuild installs the package."""
    conda, pip = environment_packages("binder/environment.yml")
    assert pip == [], f"no pip section: {pip}"
    text = (ROOT / "binder/environment.yml").read_text()
    dependencies = text.split("\ndependencies:\n", 1)[1]
    local = re.findall(r"^\s*-\s+(?:-e\s+)?(\.{1,2}|\.{0,2}/\S*)\s*$", dependencies, re.M)
    assert local == [], f"local paths: {local}"


def test_binder_post_build_installs_the_package_without_dependencies():
    post_build = ROOT / "binder/postBuild"
    text = post_build.read_text()
    assert text.startswith("#!/bin/bash\n") and "set -euo pipefail" in text
    assert os.access(post_build, os.X_OK), "repo2docker runs binder/postBuild: make it executable"
    commands = [line for line in text.splitlines() if line and not line.startswith(("#", "set "))]
    # repo2docker runs it from the repository root; the environment has every dependency
    assert commands == ["python -m pip install --no-deps --editable ."], commands


def test_environment_yml_installs_the_package_from_the_checkout():
    _, pip = environment_packages()
    assert pip == ["-e ."]


def test_design_api_names_exist_with_their_signatures():
    for function in (attention.hydra_attention, attention.hydra_attention_reference):
        parameters = inspect.signature(function).parameters
        assert list(parameters) == ["q", "k", "v", "causal", "mask"]
        assert parameters["causal"].default is False
        assert parameters["mask"].default is None


def test_package_version_matches_pyproject():
    assert hydrarec_minimal.__version__ == pyproject()["project"]["version"]


def test_ci_runs_exactly_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    command = re.search(r"<!-- test-command -->\s*```bash\n(.+?)\n```", readme, re.S)
    assert command, "README.md must mark its test command with <!-- test-command -->"
    last_line = command.group(1).strip().splitlines()[-1]
    test_line = last_line.split("&&")[-1].strip()  # the command after setting things up
    ci_lines = [line.strip() for line in (ROOT / ".ci/run").read_text().splitlines()]
    assert test_line in ci_lines, f"{test_line!r} is not a line of .ci/run"


def test_pre_commit_runs_the_ruff_version_the_tests_install():
    """One ruff: the version pinned in the test extra is the pre-commit hook's revision."""
    test_extra = pyproject()["project"]["optional-dependencies"]["test"]
    (pin,) = [r for r in test_extra if requirement_name(r) == "ruff"]
    version = pin.split("==", 1)[1]
    hooks = (ROOT / ".pre-commit-config.yaml").read_text()
    assert f"ruff-pre-commit\n    rev: v{version}\n" in hooks
