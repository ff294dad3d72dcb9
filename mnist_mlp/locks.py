"""Advisory file locks (``fcntl.flock``) for files that several ``mnist-mlp`` processes share.

Two uses: ``reports/index.md`` is rebuilt under a lock, so two runs that end together never
write an index that misses one of them; and a run folder is held by the process running it, so
``--resume`` cannot start on a run that is still going. ``flock`` locks belong to the open file,
so the kernel drops them when the holder dies, even by SIGKILL: a stale lock cannot exist.
Where ``fcntl`` is missing (Windows), the locks do nothing and say so once in the log.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from types import TracebackType

from mnist_mlp.errors import OutputError

try:
    import fcntl
except ImportError:  # pragma: no cover - not on the platforms the suite runs on
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)


class Busy(Exception):
    """The lock is held by another open file (another process, or another holder in this one)."""


class FileLock:
    """An exclusive ``flock`` on ``path`` (created if missing), held until ``release``.

    ``blocking=False`` raises ``Busy`` at once instead of waiting. Usable as a context manager.
    """

    def __init__(self, path: str | os.PathLike, *, blocking: bool = True) -> None:
        self.path = Path(path)
        try:
            self._fd: int | None = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as exc:
            raise OutputError(f"{self.path}: cannot create lock file ({exc.strerror or exc})") from None
        if fcntl is None:
            log.info("no fcntl here: %s is not locked", self.path)
            return
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            self.release()
            raise Busy(str(self.path)) from None
        except BaseException:
            self.release()
            raise

    def release(self) -> None:
        """Drop the lock (closing the file drops it); safe to call twice."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __del__(self) -> None:  # a lock dropped on the floor (an exception) is released
        self.release()

    def __enter__(self) -> "FileLock":
        return self

    def __exit__(self, kind: type | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.release()
