"""Run as a script: load one function's ``main.py`` as functions-framework does, then print (JSON)
the top-level third-party modules that the platform's own loaded files import, anywhere in them
(lazy imports included), each with the distributions that provide it."""

from __future__ import annotations

import ast
import importlib.util
import json
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

LOCAL = {"shared", "functions", "main", "infra", "tests", "bench"}


def main(repo: Path, source: Path) -> dict[str, list[str]]:
    sys.path.insert(0, str(repo))
    spec = importlib.util.spec_from_file_location("main", source)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["main"] = module
    spec.loader.exec_module(module)
    ours = {source}
    for loaded in list(sys.modules.values()):
        path = Path(getattr(loaded, "__file__", None) or "/").resolve()
        if path.is_relative_to(repo / "shared"):
            ours.add(path)
    names: set[str] = set()
    for path in ours:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    providers = packages_distributions()
    return {
        name: sorted(providers.get(name, []))
        for name in sorted(names - LOCAL)
        if name not in sys.stdlib_module_names
    }


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve())))
