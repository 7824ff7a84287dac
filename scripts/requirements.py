"""Print the pinned requirements of pyproject.toml, one per line (optionally with extras groups)."""

import sys
import tomllib
from pathlib import Path

project = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml").read_text())["project"]
lines = list(project["dependencies"])
for group in sys.argv[1:]:
    lines += project["optional-dependencies"][group]
print("\n".join(lines))
