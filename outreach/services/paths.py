"""How the files of a workspace are named: where outreach.yaml is, and how a path is shown
in a message."""

from __future__ import annotations

from pathlib import Path

from outreach.core.problems import Problem

CONFIG_FILE = "outreach.yaml"


def shown(path: Path) -> str:
    """A path as the user should see it: relative to the current folder when inside it, and
    named as written (a symbolic link is shown as the link, not where it leads)."""
    try:
        return str((path.parent.resolve() / path.name).relative_to(Path.cwd().resolve()))
    except (ValueError, OSError, RuntimeError):
        return str(path)


def reading_order(found: Problem) -> tuple[str, int, int]:
    where = found.location
    return where.path, where.line or 0, where.col or 0
