"""`outreach init DIR`: copy the starter workspace that ships inside the package."""

from __future__ import annotations

from importlib import resources
from importlib.abc import Traversable
from pathlib import Path

from outreach.errors import UserError

STARTER = "starter"


def create_workspace(directory: Path, force: bool = False) -> list[Path]:
    if (directory / "outreach.yaml").exists() and not force:
        raise UserError(f"{directory} already holds a workspace; use --force to overwrite it")
    written: list[Path] = []
    _copy(resources.files("outreach") / STARTER, directory, written)
    return written


def _copy(source: Traversable, target: Path, written: list[Path]) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for item in sorted(source.iterdir(), key=lambda i: i.name):
        if item.name.startswith((".", "__")):
            continue
        if item.is_dir():
            _copy(item, target / item.name, written)
        else:
            destination = target / item.name
            destination.write_bytes(item.read_bytes())
            written.append(destination)
