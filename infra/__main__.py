"""``pulumi up`` runs this (``main: infra/`` in Pulumi.yaml).

Pulumi runs the program directory as a script, which puts ``infra/`` itself first on the path.
That is swapped for the repository root, so the program imports ``infra`` and ``shared`` (the
topology and warehouse declarations the local stack also runs) as packages, and no module here
can shadow an installed one of the same name.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path[:] = [p for p in sys.path if not p or Path(p).resolve() != HERE]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import pulumi  # noqa: E402

from infra import config  # noqa: E402
from infra.program import build  # noqa: E402

for name, value in build(config.load()).items():
    pulumi.export(name, value)
