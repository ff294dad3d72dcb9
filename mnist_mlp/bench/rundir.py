"""A run's folder: created so that two runs never share one, and held while a process runs it.

The folder is named by the run id (UTC second and host). Two ``bench`` runs started in the
same second on one host would get the same name, so the folder is made with a plain ``mkdir``
(which fails when the name is taken, atomically, also on NFS) and, when taken, the next of
``<id>-2``, ``<id>-3``, ... is tried. The folder's name is the run's ``run_id``.

While a process runs the cases it holds ``<run>/.run.lock`` (``flock``), so ``bench --resume``
refuses a run that is still going instead of running its cases a second time beside it. The
kernel drops the lock when the holder dies, however it dies, so a killed run can be resumed.
"""

from __future__ import annotations

from pathlib import Path

from mnist_mlp.errors import OutputError, UsageError
from mnist_mlp.locks import Busy, FileLock

LOCK_FILE = ".run.lock"
#: how many ``-N`` suffixes are tried before giving up (runs started in one second on one host)
MAX_SUFFIX = 1000


class RunFolder:
    """A run folder and the lock that says a process is running it."""

    def __init__(self, path: Path, lock: FileLock) -> None:
        self.path = path
        self._lock = lock

    def release(self) -> None:
        self._lock.release()


def create(out_root: Path, run_id: str) -> RunFolder:
    """Make ``out_root/run_id`` (or ``run_id-2``, ``-3``, ... when taken) and hold it."""
    for number in range(1, MAX_SUFFIX + 1):
        path = out_root / (run_id if number == 1 else f"{run_id}-{number}")
        try:
            path.mkdir()
        except FileExistsError:
            continue
        except OSError as exc:
            raise OutputError(f"{path}: cannot create the run folder ({exc.strerror or exc})") from None
        return RunFolder(path, FileLock(path / LOCK_FILE))
    raise OutputError(f"{out_root}: {MAX_SUFFIX} run folders named {run_id}[-N] exist already")


def hold(run_dir: Path) -> RunFolder:
    """Hold an existing run folder, or refuse (exit 2) when another process is running it now."""
    try:
        lock = FileLock(run_dir / LOCK_FILE, blocking=False)
    except Busy:
        raise UsageError(
            f"{run_dir}: another mnist-mlp process is running this run now; let it finish (or stop it) before resuming"
        ) from None
    return RunFolder(run_dir, lock)
