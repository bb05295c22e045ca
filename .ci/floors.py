"""Print a pip constraints file that pins every runtime dependency to its declared floor.

python .ci/floors.py > floors.txt   # "torch>=2.11,<3" in pyproject.toml -> "torch==2.11"
"""

import re
import sys
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

project = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
for requirement in project["project"]["dependencies"]:
    floor = re.fullmatch(r"([A-Za-z0-9_.-]+)\s*>=\s*([0-9.]+)\s*(,.*)?", requirement)
    if floor is None:
        sys.exit(f"no '>=' floor in the dependency {requirement!r}")
    print(f"{floor.group(1)}=={floor.group(2)}")
