"""The README's "use the package" example runs as written (offline too: synthetic fallback)."""

from __future__ import annotations

import re
import subprocess
import sys
import warnings
from pathlib import Path

import hydrarec_minimal
from hydrarec_minimal import download
from hydrarec_minimal.data import SyntheticDataWarning

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- example:use-the-package -->", "<!-- /example:use-the-package -->"


def example_code() -> str:
    """The code between the markers (it loads ``load_dataset("ml-100k")``)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split(BEGIN, 1)[1].split(END, 1)[0]
    match = re.search(r"```python\n(.*?)```", block, re.DOTALL)
    assert match, "no python code block between the example markers"
    return match.group(1)


def test_example_imports_only_from_the_package_root():
    imports = re.findall(r"^\s*(?:from|import) (\S+)", example_code(), re.MULTILINE)
    assert set(imports) == {"hydrarec_minimal"}


def test_example_trains_evaluates_and_recommends(monkeypatch, tmp_path):
    """With HYDRAREC_DATA on MovieLens, or offline on the synthetic fallback (never strict).

    As written, but on the first 100 users (``max_users``) so that two epochs take seconds.
    """
    monkeypatch.delenv("HYDRAREC_STRICT_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # no download lands in the real cache
    monkeypatch.setattr(download, "DOWNLOAD_POLICY", download.DownloadPolicy(1, 0, 5))
    namespace: dict = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SyntheticDataWarning)
        assert 'load_dataset("ml-100k")' in example_code()
        code = example_code().replace(
            'load_dataset("ml-100k")', 'load_dataset("ml-100k", max_users=100)'
        )
        exec(compile(code, "README.md", "exec"), namespace)
    dataset, top10, test = namespace["data"], namespace["top10"], namespace["test"]
    assert len(top10) == 10 and len(set(top10.tolist())) == 10
    assert not set(top10.tolist()) & set(dataset.sequences[0].tolist())
    assert all(1 <= item <= dataset.num_items for item in top10)
    assert 0.0 <= test["NDCG@10"] <= test["HR@10"] <= 1.0


def test_importing_the_package_loads_no_plotting_or_compiler():
    heavy = ("matplotlib", "seaborn", "jupyter", "IPython", "torch._inductor")
    code = f"import hydrarec_minimal, sys; print([m for m in sys.modules if m.startswith({heavy})])"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
    assert hydrarec_minimal.load_dataset and hydrarec_minimal.recommend
