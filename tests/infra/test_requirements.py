"""Each function deploys with a ``requirements.txt`` of its own (Cloud Functions installs only
that). It must name every distribution the code it loads imports, pinned as in the top-level
``requirements.txt``: a missing one imports fine locally (one venv holds everything) and fails
only once deployed."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from importlib.metadata import requires
from pathlib import Path

import pytest

from shared.topology import TOPOLOGY, Function

REPO = Path(__file__).resolve().parents[2]
PROBE = Path(__file__).with_name("imports_probe.py")
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==(\S+)$")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(path: Path) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            match = PIN.match(line)
            assert match, f"{path}: {line!r} is not pinned as name==version"
            found[canonical(match[1])] = match[2]
    return found


def provided(listed: set[str]) -> set[str]:
    """What installing ``listed`` brings: the distributions and their direct dependencies."""
    brought = set(listed)
    for dist in listed:
        for requirement in requires(dist) or []:
            if "extra ==" not in requirement:
                brought.add(canonical(re.split(r"[ ;<>=!~\[(]", requirement, maxsplit=1)[0]))
    return brought


@pytest.mark.parametrize("function", TOPOLOGY.functions, ids=lambda f: f.name)
def test_a_functions_requirements_cover_what_it_imports(function: Function) -> None:
    folder = REPO / "functions" / function.folder
    listed = pins(folder / "requirements.txt")
    top = pins(REPO / "requirements.txt")
    assert {n: v for n, v in listed.items() if top.get(n) != v} == {}, "pins differ from the top"
    probe = subprocess.run(
        [sys.executable, str(PROBE), str(REPO), str(folder / "main.py")],
        capture_output=True, text=True, check=True, cwd=folder,
    )  # fmt: skip
    imported: dict[str, list[str]] = json.loads(probe.stdout)
    imported.pop("google", None)  # a namespace: its client libraries are checked by name below
    have = provided(set(listed))
    missing = {module: dists for module, dists in imported.items()
               if not {canonical(d) for d in dists} & have}  # fmt: skip
    assert missing == {}, f"{function.folder}/requirements.txt lacks what these modules need"
    for client in ("google-cloud-pubsub", "google-cloud-bigquery", "google-cloud-firestore"):
        assert client in listed  # every function's services reach all three adapters
