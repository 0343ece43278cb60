"""Each function's deployment archive: ``main.py`` and ``requirements.txt`` from
``functions/<folder>`` at the root, beside the whole ``shared/`` package.

That is the layout functions-framework serves in the cloud (the source root is on the path, so
``import shared`` works), and the layout the infra tests unpack and serve with nothing else on the
path. The zip is deterministic (sorted entries, fixed timestamps and modes) and named by a hash of
its contents, so an unchanged source uploads the same object and a changed one redeploys.
"""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FUNCTION_FILES = ("main.py", "requirements.txt")
SHARED = "shared"
# Caches and editor droppings never ship: they differ between machines and would change the hash.
SKIPPED_DIRS = frozenset({"__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache"})
SKIPPED_SUFFIXES = (".pyc", ".pyo", ".swp", "~")
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can carry
FILE_MODE = 0o644 << 16


class PackagingError(Exception):
    """A function's folder lacks a file the deployed function needs."""


@dataclass(frozen=True)
class Archive:
    folder: str  # functions/<folder>
    path: Path  # the zip on disk
    sha256: str  # of the entries (names and bytes), not of the zip container

    @property
    def object_name(self) -> str:
        """The bucket object name: a new hash is a new object, which redeploys the function."""
        return f"{self.folder}-{self.sha256[:16]}.zip"


def entries(folder: str, repo: Path = REPO) -> list[tuple[str, Path]]:
    """(name in the archive, file on disk), sorted by name."""
    source = repo / "functions" / folder
    found: list[tuple[str, Path]] = []
    for name in FUNCTION_FILES:
        path = source / name
        if not path.is_file():
            raise PackagingError(f"{path} is missing: every function ships {FUNCTION_FILES}")
        found.append((name, path))
    found += [(p.relative_to(repo).as_posix(), p) for p in _walk(repo / SHARED)]
    return sorted(found)


def _walk(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*")):
        if not path.is_file() or any(part in SKIPPED_DIRS for part in path.parts):
            continue
        if path.name.endswith(SKIPPED_SUFFIXES):
            continue
        yield path


def content_hash(files: list[tuple[str, Path]]) -> str:
    digest = hashlib.sha256()
    for name, path in files:
        data = path.read_bytes()
        digest.update(f"{name}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()


def build_archive(folder: str, out_dir: Path, repo: Path = REPO) -> Archive:
    """Write ``<out_dir>/<folder>-<hash>.zip`` (reused when already there) and describe it."""
    files = entries(folder, repo)
    sha = content_hash(files)
    archive = Archive(folder, out_dir / f"{folder}-{sha[:16]}.zip", sha)
    if archive.path.is_file():
        return archive
    out_dir.mkdir(parents=True, exist_ok=True)
    partial = archive.path.with_suffix(".zip.partial")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, path in files:
            info = zipfile.ZipInfo(name, ZIP_EPOCH)
            info.external_attr = FILE_MODE
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, path.read_bytes())
    partial.replace(archive.path)  # never leave a half-written zip under the final name
    return archive
