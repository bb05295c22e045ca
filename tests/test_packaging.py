"""Packaging promises: environment.yml matches pyproject.toml; DESIGN.md's API names exist."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import tomllib

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


def environment_packages() -> tuple[dict[str, str], list[str]]:
    """(conda package -> its line, pip lines) from environment.yml, read without a YAML library."""
    conda, pip, in_pip = {}, [], False
    text = (ROOT / "environment.yml").read_text()
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


def test_environment_yml_lists_the_same_runtime_and_notebook_packages_as_pyproject():
    project = pyproject()["project"]
    wanted = project["dependencies"] + project["optional-dependencies"]["notebooks"]
    conda, _ = environment_packages()
    listed = set(conda) - {"python", "pip"}
    assert listed == {requirement_name(r) for r in wanted}


def test_environment_yml_uses_the_same_version_ranges_and_cpu_pytorch():
    project = pyproject()["project"]
    ranges = {
        requirement_name(r): r[len(requirement_name(r)) :]
        for r in project["dependencies"] + project["optional-dependencies"]["notebooks"]
    }
    conda, _ = environment_packages()
    for name, line in conda.items():
        if name in ranges:
            assert line.endswith(ranges[name]), f"{line!r} vs pyproject range {ranges[name]!r}"
    assert "pytorch-cpu" in conda["torch"], "Binder has no GPU: use the CPU build"
    python_floor = project["requires-python"]
    assert conda["python"] == f"python{python_floor}"


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
