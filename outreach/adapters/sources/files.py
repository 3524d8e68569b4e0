"""The one safe way to touch a workspace file: regular files only, inside the workspace (or a
folder `outside_workspace:` in outreach.yaml allows), never blocking, never past a size cap.

    Boundary.confine(path)      the path with symlinks resolved; Refused if it leads outside
    open_regular(path, cap)     opened without blocking (a FIFO cannot hang the open) and
                                checked on the open descriptor: a regular file, within the cap
    read_bytes / read_text      all of a small file
    open_append(path)           a file to append to: never through a symlink, never a FIFO
    replace_whole(path, data)   a file written whole, beside its path and renamed over it
    write_regular(path, data)   a file someone named, written only if it is a regular one

Paths given to the open functions come from `Boundary.confine` (symlinks already resolved):
their last component is opened with O_NOFOLLOW, so a symlink swapped in after the check is
refused rather than followed.
"""

from __future__ import annotations

import errno
import io
import os
import stat
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

_OPEN_FLAGS = os.O_NONBLOCK | os.O_NOFOLLOW | os.O_NOCTTY | os.O_CLOEXEC
_KINDS = {
    stat.S_IFIFO: "a FIFO",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
    stat.S_IFDIR: "a folder",
    stat.S_IFLNK: "a symbolic link",
}


_ALLOW = (
    "move it into the workspace, or list its folder under `outside_workspace:` in outreach.yaml"
)


class Refused(ValueError):
    """A file outreach will not read or write; the message says why and what to do."""


# The kernel's folders: their files (a process's environment, devices) are never data.
SYSTEM_FOLDERS = (Path("/proc"), Path("/sys"), Path("/dev"))


@dataclass(frozen=True, slots=True)
class Boundary:
    """Where outreach may read and write: the workspace folder, and the folders outside it that
    outreach.yaml's `outside_workspace:` names (all with symlinks resolved)."""

    root: Path
    allowed: tuple[Path, ...] = ()

    @classmethod
    def of(cls, root: Path, outside_workspace: Iterable[str] = ()) -> Boundary:
        """`outside_workspace` entries are absolute, `~/...`, or relative to the workspace."""
        base = root.resolve()
        return cls(base, tuple(_resolved(base / Path(f).expanduser()) for f in outside_workspace))

    def confine(self, path: Path, advice: str = _ALLOW) -> Path:
        """`path` with symlinks resolved; Refused when it leads outside the workspace and
        every allowed folder (the message ends with `advice`)."""
        written = Path(os.path.normpath(path.expanduser().absolute()))
        target = _resolved(written)
        system = next((folder for folder in SYSTEM_FOLDERS if target.is_relative_to(folder)), None)
        if system is not None:  # whatever outside_workspace allows: /proc holds the environment
            raise Refused(f"leads to {target}, in {system}, where outreach never reads or writes")
        if any(target.is_relative_to(folder) for folder in (self.root, *self.allowed)):
            return target
        where = f"leads to {target}, " if target != written else ""
        raise Refused(f"{where}outside the workspace; {advice}")


def _resolved(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError, ValueError) as exc:  # a symlink loop, a NUL in the name
        raise Refused(f"a symbolic link that cannot be resolved ({exc}); fix it") from None


class _Capped(io.RawIOBase):
    """Reads from a descriptor, refusing to go past `max_bytes` (a file that grows while it is
    read, or one whose size stat cannot tell, like those in /proc)."""

    def __init__(self, fd: int, max_bytes: int | None, advice: str) -> None:
        self.fd, self.max_bytes, self.advice, self.total = fd, max_bytes, advice, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        count = os.readv(self.fd, [buffer])
        self.total += count
        if self.max_bytes is not None and self.total > self.max_bytes:
            raise Refused(_too_large(self.max_bytes, self.advice))
        return count

    def close(self) -> None:
        if not self.closed:
            os.close(self.fd)
        super().close()


@dataclass(frozen=True, slots=True)
class OpenFile:
    info: os.stat_result  # of the open descriptor: what is read is what was checked
    stream: BinaryIO  # raises Refused once it has read more than the cap

    def text(
        self, encoding: str = "utf-8", newline: str | None = None, errors: str = "strict"
    ) -> io.TextIOWrapper:
        return io.TextIOWrapper(self.stream, encoding, errors, newline)


@contextmanager
def open_regular(
    path: Path, max_bytes: int | None, advice: str = "is it the right file?"
) -> Iterator[OpenFile]:
    """Open a regular file for reading; Refused for anything else or a file over `max_bytes`
    (None: no cap). `advice` says what to do about a file that is too large."""
    fd = _open(path, os.O_RDONLY)
    raw = _Capped(fd, max_bytes, advice)
    with io.BufferedReader(raw) as stream:
        info = os.fstat(fd)
        _require_regular(info)
        if max_bytes is not None and info.st_size > max_bytes:
            raise Refused(_too_large(max_bytes, advice, info.st_size))
        yield OpenFile(info, stream)


def read_bytes(path: Path, max_bytes: int, advice: str = "is it the right file?") -> bytes:
    with open_regular(path, max_bytes, advice) as opened:
        return opened.stream.read()


def read_text(path: Path, max_bytes: int, advice: str = "is it the right file?") -> str:
    """The file as UTF-8 text (UnicodeDecodeError when it is not)."""
    return read_bytes(path, max_bytes, advice).decode("utf-8")


def open_append(path: Path) -> int:
    """A descriptor appending to `path`, created if missing: the path itself, never where a
    symlink points, and only a regular file (a FIFO would block the writer for good)."""
    fd = _open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT)
    try:
        _require_regular(os.fstat(fd))
    except Refused:
        os.close(fd)
        raise
    return fd


def replace_whole(path: Path, content: bytes) -> None:
    """Make `path` a regular file holding `content`: written beside it, then renamed over it.
    Readers see the old file or the new, never half of one; and what was there — a file, a
    symbolic link, a FIFO — is replaced, never written through or waited on."""
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    temporary = Path(name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
        temporary.chmod(0o644)
        temporary.replace(path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_regular(path: Path, content: bytes) -> None:
    """Write a file someone named (anywhere, links followed): only a regular file, new or
    not — a FIFO would block the writer, a device (/dev/full, /dev/null) is no place for it."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC, 0o644)
    try:
        _require_regular(os.fstat(fd))
        os.set_blocking(fd, True)
        os.ftruncate(fd, 0)
        view = memoryview(content)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def _open(path: Path, flags: int) -> int:
    try:
        return os.open(path, flags | _OPEN_FLAGS, 0o644)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENXIO, errno.EISDIR):  # a link, a socket, a folder
            _require_regular(os.lstat(path))
        raise


def _require_regular(info: os.stat_result) -> None:
    if not stat.S_ISREG(info.st_mode):
        kind = _KINDS.get(stat.S_IFMT(info.st_mode), "not a file")
        raise Refused(f"not a regular file ({kind}); replace it with an ordinary file")


def _too_large(max_bytes: int, advice: str, size: int | None = None) -> str:
    found = f"{size} bytes, " if size is not None else ""
    return f"{found}over the limit of {max_bytes} bytes; {advice}"
