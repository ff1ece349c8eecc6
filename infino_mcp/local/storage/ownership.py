"""One owner per data directory: an exclusive OS lock, and where the owner can be reached.

The owner holds ``flock(LOCK_EX)`` on ``owner.lock`` for as long as its stores are open (the kernel
drops it when the process exits, ``kill -9`` included), so no two processes ever write the catalog
or a store. It serves the endpoint on the Unix socket ``owner.sock`` (mode 0600, in the 0700
directory) and describes itself in ``owner.json`` (pid, socket path, start time).

Socket paths are limited to about 104-108 bytes. A directory whose ``owner.sock`` path is longer is
reached through a short alias: a symlink to the directory, named by a hash of its path, in a private
per-user directory (``$XDG_RUNTIME_DIR/infino-mcp`` or ``<tmp>/infino-mcp-<uid>``, mode 0700).
The socket itself always lives in the data directory.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

LOCK_FILE = "owner.lock"
RECORD_FILE = "owner.json"
SOCKET_FILE = "owner.sock"
_MAX_SOCKET_PATH = 100  # below every platform's sun_path limit, with room for the terminator


@dataclass(frozen=True)
class OwnerInfo:
    """The process that serves a data directory, as it described itself."""

    pid: int
    socket: str

    def describe(self) -> str:
        return f"pid {self.pid}, socket {self.socket}"


class DirectoryOwned(Exception):
    """Another process holds the directory's lock; ``owner`` is None while it is still starting."""

    def __init__(self, data_dir: Path, owner: OwnerInfo | None) -> None:
        who = owner.describe() if owner else "a process that is still starting"
        super().__init__(f"{data_dir} is served by {who}")
        self.data_dir = data_dir
        self.owner = owner


def socket_path(data_dir: Path) -> Path:
    return data_dir / SOCKET_FILE


def socket_address(data_dir: Path) -> str:
    """The path to bind or connect: the socket's own path, or its short alias when that is too long."""
    direct = str(socket_path(data_dir))
    if len(os.fsencode(direct)) <= _MAX_SOCKET_PATH:
        return direct
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    base = Path(runtime) / "infino-mcp" if runtime else Path(tempfile.gettempdir()) / f"infino-mcp-{os.getuid()}"
    base.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = os.lstat(base)
    if not os.path.isdir(base) or os.path.islink(base) or info.st_uid != os.getuid():
        raise OSError(f"{base} is not a private directory of this user; remove it and retry")
    if info.st_mode & 0o077:
        os.chmod(base, 0o700)
    alias = base / hashlib.sha256(os.fsencode(data_dir)).hexdigest()[:16]
    if not (alias.is_symlink() and os.readlink(alias) == str(data_dir)):
        staging = base / f".{alias.name}.{os.getpid()}"
        with contextlib.suppress(FileNotFoundError):
            staging.unlink()
        staging.symlink_to(data_dir, target_is_directory=True)
        os.replace(staging, alias)
    return str(alias / SOCKET_FILE)


def read_owner(data_dir: Path) -> OwnerInfo | None:
    try:
        record = json.loads((data_dir / RECORD_FILE).read_text(encoding="utf-8"))
        return OwnerInfo(pid=int(record["pid"]), socket=str(record["socket"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


class OwnerLock:
    """The exclusive lock of one data directory, held by this process until ``release``."""

    def __init__(self, data_dir: Path, fd: int) -> None:
        self.data_dir = data_dir
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, data_dir: Path) -> OwnerLock:
        """Take the lock now or raise ``DirectoryOwned`` (never waits)."""
        fd = os.open(data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise DirectoryOwned(data_dir, read_owner(data_dir)) from None
        except BaseException:
            os.close(fd)
            raise
        return cls(data_dir, fd)

    def publish(self) -> None:
        """Say who serves the directory (``owner.json``, replaced atomically)."""
        record = {"pid": os.getpid(), "socket": str(socket_path(self.data_dir)), "since": time.time()}
        target = self.data_dir / RECORD_FILE
        tmp = target.with_name(f".{RECORD_FILE}.{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(record, fh)
        os.replace(tmp, target)

    def release(self) -> None:
        """Withdraw the socket and the record, then drop the lock (the next process may take it)."""
        if self._fd is None:
            return
        mine = read_owner(self.data_dir)
        for name in (SOCKET_FILE, RECORD_FILE) if mine is None or mine.pid == os.getpid() else (SOCKET_FILE,):
            with contextlib.suppress(FileNotFoundError):
                (self.data_dir / name).unlink()
        os.close(self._fd)
        self._fd = None
