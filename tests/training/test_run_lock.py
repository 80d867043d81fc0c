"""nlpkit.training.run_lock: one run per run directory; stale locks are taken over."""

import json
import os
import socket
import subprocess
import sys

import pytest

from nlpkit.training.run_lock import LOCK_FILE, RunDirectoryInUse, RunDirectoryLock


def dead_pid():
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def write_lock(run_dir, **owner):
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / LOCK_FILE).write_text(json.dumps(owner))


def test_the_lock_names_its_owner_and_is_released(tmp_path):
    with RunDirectoryLock(tmp_path / "run") as lock:
        owner = json.loads((tmp_path / "run" / LOCK_FILE).read_text())
        assert owner == lock.owner and owner["pid"] == os.getpid()
        assert owner["host"] == socket.gethostname() and owner["started"]
    assert not (tmp_path / "run" / LOCK_FILE).exists()


def test_a_second_run_refuses_naming_the_owner(tmp_path):
    with RunDirectoryLock(tmp_path):
        with pytest.raises(RunDirectoryInUse, match=rf"in use by process {os.getpid()} on"):
            with RunDirectoryLock(tmp_path):
                pass
        assert (tmp_path / LOCK_FILE).exists()  # the refused run left the owner's lock alone


def test_another_hosts_lock_is_never_taken_over(tmp_path):
    write_lock(tmp_path, pid=1, host="elsewhere", started="2026-12-03T10:00:00+00:00")
    with pytest.raises(RunDirectoryInUse, match="process 1 on elsewhere, started 2026-12-03"):
        with RunDirectoryLock(tmp_path):
            pass


def test_a_dead_processs_lock_is_taken_over_with_a_message(tmp_path, capsys):
    pid = dead_pid()
    write_lock(tmp_path, pid=pid, host=socket.gethostname(), started="earlier")
    with RunDirectoryLock(tmp_path) as lock:
        assert json.loads((tmp_path / LOCK_FILE).read_text()) == lock.owner
    assert f"its owner (process {pid}" in capsys.readouterr().err


def test_a_fresh_empty_lock_counts_as_taken_an_old_one_as_stale(tmp_path):
    (tmp_path / LOCK_FILE).write_text("")
    with pytest.raises(RunDirectoryInUse):
        with RunDirectoryLock(tmp_path):
            pass
    os.utime(tmp_path / LOCK_FILE, (0, 0))
    with RunDirectoryLock(tmp_path):
        pass


def test_disabled_does_nothing(tmp_path):
    write_lock(tmp_path, pid=1, host="elsewhere", started="x")
    with RunDirectoryLock(tmp_path, enabled=False):
        pass
    assert (tmp_path / LOCK_FILE).exists()
