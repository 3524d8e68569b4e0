"""Which store a workspace uses. The first command that sends or records adopts the
configured store and writes its id beside the workspace, in `.outreach/store.json`; from then
on such a command refuses a store with another id — the SQLite file deleted (a new one would
be empty: every note would go again), replaced, or `store:` pointing at another database —
until the right one is back, or a person starts over explicitly (`--new-store`)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from outreach.adapters.sources.files import Boundary, Refused, read_text, replace_whole
from outreach.adapters.store import SqlStore
from outreach.adapters.store.location import shown_url
from outreach.core.config import Config, FileChannel
from outreach.errors import StoreError

RECORD = Path(".outreach") / "store.json"
MAX_RECORD = 10_000  # bytes: an id and a date
START_OVER = (
    "start over with this store with `--new-store` (on `outreach run` or `outreach daemon`): "
    "what the old one knew is forgotten, so notes and gifts still in their catch-up window "
    "may go again"
)


def open_lasting(
    config: Config, root: Path, new_store: bool = False, create: bool = True
) -> SqlStore | None:
    """The store of a command that sends or records: on disk or a server, at this outreach's
    schema, and the one this workspace has used. With `create=False`, None while there is
    neither a store nor a record of one."""
    url, known = config.store, recorded_id(root)
    if known is None and create and not new_store:
        _refuse_a_new_store_for_a_workspace_that_sent(config, root)
    store = SqlStore.of(config, root, create=new_store or (create and known is None))
    if store is None:
        if known is None:
            return None
        raise StoreError(
            f"store: {shown_url(url)} does not exist, but this workspace has used store {known} "
            f"(recorded in {RECORD}): was the file deleted or moved? Restore it; or {START_OVER}"
        )
    if known is not None and store.id != known and not new_store:
        raise StoreError(
            f"store: {shown_url(url)} is not the store this workspace has used (its id is "
            f"{store.id}; {RECORD} says {known}): the file was replaced, or `store:` names "
            f"another database. Restore the right one; or {START_OVER}"
        )
    if store.id != known:
        _record(root, store.id)
    return store


def _refuse_a_new_store_for_a_workspace_that_sent(config: Config, root: Path) -> None:
    """Without a record of its store (`.outreach/` deleted with it, say by `git clean`), a
    workspace whose sinks already hold gifts or tasks has sent before: a new, empty store
    would send it all again."""
    if SqlStore.of(config, root, create=False) is not None:
        return  # a store is there: it is adopted
    for name in ("gifts", "tasks"):
        sink = getattr(config.channels, name)
        path = root / sink.path if isinstance(sink, FileChannel) else None
        if path is not None and path.is_file() and path.stat().st_size:
            raise StoreError(
                f"store: {shown_url(config.store)} does not exist and no record says which "
                f"store this workspace used, but {sink.path} holds what it sent before: was "
                f"the store deleted? Restore it (with {RECORD}); or {START_OVER}"
            )


def recorded_id(root: Path) -> str | None:
    path = root / RECORD
    try:
        found = json.loads(read_text(Boundary.of(root).confine(path), MAX_RECORD))["store_id"]
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError, KeyError) as exc:  # Refused: a FIFO, a link out
        raise StoreError(
            f"{path}: cannot read which store this workspace uses ({type(exc).__name__}"
            f"{': ' + str(exc) if isinstance(exc, Refused) else ''}); restore it, or {START_OVER}"
        ) from None
    if not isinstance(found, str):
        raise StoreError(f"{path}: store_id is not text; restore it, or {START_OVER}")
    return found


def _record(root: Path, store_id: str) -> None:
    """Written whole or not at all (two runs adopting the same store write the same), inside
    the workspace: never through a link that leads out of it."""
    try:
        path = Boundary.of(root).confine(root / RECORD)
        path.parent.mkdir(exist_ok=True)
        path = Boundary.of(root).confine(path)  # the folder made is the folder checked
    except Refused as exc:
        raise StoreError(f"{root / RECORD}: {exc}") from None
    adopted = datetime.now(UTC).isoformat(timespec="seconds")
    content = json.dumps({"store_id": store_id, "adopted_at": adopted}, indent=2) + "\n"
    replace_whole(path, content.encode("utf-8"))
