"""`outreach init DIR`: copy the starter workspace that ships inside the package.

Nothing that exists is overwritten without `--force`, and nothing is ever written through a
symbolic link: with `--force` a link (to a file or a folder) is replaced by the real thing,
and what it pointed at is left alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path

from outreach.adapters.sources.files import replace_whole
from outreach.errors import UserError

STARTER = "starter"


def create_workspace(directory: Path, force: bool = False) -> list[Path]:
    if directory.is_symlink():
        raise UserError(
            f"{directory} is a symbolic link; run init on the folder it leads to "
            f"({directory.resolve()}) instead"
        )
    files = dict(_starter_files(resources.files("outreach") / STARTER, Path()))
    taken = list(dict.fromkeys(p for p in (_taken(directory, f) for f in files) if p))
    if taken and not force:
        listed = ", ".join(str(path) for path in taken)
        raise UserError(
            f"{directory} already has {len(taken)} of the starter's paths; nothing was "
            f"written (use --force to replace them): {listed}"
        )
    if folders := [p for p in taken if p.is_dir() and not p.is_symlink()]:
        raise UserError(f"{folders[0]} is a folder where init writes a file; move it away")
    written = []
    for relative, content in files.items():
        try:
            written.append(_write(directory, relative, content))
        except OSError as exc:
            raise UserError(f"cannot write {directory / relative}: {exc.strerror or exc}") from None
    return written


def _starter_files(source: Traversable, relative: Path) -> Iterator[tuple[Path, bytes]]:
    for item in sorted(source.iterdir(), key=lambda i: i.name):
        if item.name.startswith((".", "__")):
            continue
        if item.is_dir():
            yield from _starter_files(item, relative / item.name)
        else:
            yield relative / item.name, item.read_bytes()


def _taken(directory: Path, relative: Path) -> Path | None:
    """The first path on the way to the file `relative` that is already there and would be
    replaced: a symbolic link, something other than a folder where a folder goes, the file."""
    path = directory
    for part in relative.parent.parts:
        path = path / part
        if path.is_symlink() or (path.exists() and not path.is_dir()):
            return path
    path = path / relative.name
    return path if path.is_symlink() or path.exists() else None


def _write(directory: Path, relative: Path, content: bytes) -> Path:
    """Write one file. A link or a file where a folder goes is replaced by a folder; the file
    replaces what is at its path (a link is replaced, never written through)."""
    folder = directory
    folder.mkdir(parents=True, exist_ok=True)
    for part in relative.parent.parts:
        folder = folder / part
        if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
            folder.unlink()  # with --force only: create_workspace refused otherwise
        folder.mkdir(exist_ok=True)
    target = folder / relative.name
    replace_whole(target, content)
    return target
