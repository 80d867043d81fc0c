"""One run per run directory: a lock file that names its owner.

Two trainings started with the same `--run-dir` would write the same checkpoints, backups and logs
for their whole length. `RunDirectoryLock` makes the second one refuse at once, naming the first:
`<run_dir>/run.lock` holds the owner's process id, host and start time, and is created with
`O_EXCL`, so of two processes racing for it exactly one wins. A lock left by a process that died
(same host, process gone) is taken over with a message; a lock from another host is never
taken over (its process cannot be checked from here).
"""

import datetime
import json
import os
import socket
import sys
import time

LOCK_FILE = "run.lock"
EMPTY_LOCK_GRACE_SECONDS = 10


class RunDirectoryInUse(RuntimeError):
    """Another live run owns the run directory."""


def process_alive(pid):
    """Whether process `pid` exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        return True
    return True


class RunDirectoryLock:
    """Context manager: owns `run_dir` while the block runs.

    Args:
        run_dir: the run directory (created if missing).
        enabled: False makes it do nothing (e.g. on a non-chief worker, which writes elsewhere).

    Raises:
        RunDirectoryInUse: on entry, when a live process (or one on another host) owns it; the
            message names its process id, host and start time.

    Example:

        with RunDirectoryLock(args.run_dir, enabled=is_chief()):
            train(...)
    """

    def __init__(self, run_dir, enabled=True):
        self.path = os.path.join(str(run_dir), LOCK_FILE)
        self.enabled = enabled
        self.owner = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        }

    def __enter__(self):
        if not self.enabled:
            return self
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        while True:
            try:
                handle = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                self._take_over_if_stale()
                continue
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                json.dump(self.owner, file)
            return self

    def _take_over_if_stale(self):
        try:
            with open(self.path, encoding="utf-8") as file:
                owner = json.load(file)
        except FileNotFoundError:
            return  # released meanwhile: try again
        except (ValueError, UnicodeDecodeError):
            # Being filled right now, or left empty by a process killed between creating and
            # filling it: only an old one is stale.
            owner = {}
            if time.time() - os.path.getmtime(self.path) < EMPTY_LOCK_GRACE_SECONDS:
                owner = {"pid": "?", "host": "?", "started": "just now"}
        pid, host = owner.get("pid"), owner.get("host")
        here = host == self.owner["host"]
        if owner and not (here and isinstance(pid, int) and not process_alive(pid)):
            raise RunDirectoryInUse(
                f"{os.path.dirname(self.path)} is in use by process {pid} on {host}, "
                f"started {owner.get('started')} (lock file {self.path}); use another "
                "--run-dir, or wait for that run to end"
            )
        print(f"taking over {self.path}: its owner (process {pid} on {host}, started "
              f"{owner.get('started')}) is gone", file=sys.stderr)
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass

    def __exit__(self, *exc_info):
        if not self.enabled:
            return
        try:
            with open(self.path, encoding="utf-8") as file:
                mine = json.load(file) == self.owner
        except (FileNotFoundError, ValueError):
            mine = False
        if mine:
            os.unlink(self.path)
