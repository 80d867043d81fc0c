"""nlpkit.export.versioned: integer versions, all-or-nothing writes, chief-only exports.

A stand-in archive writes a few files the way `ExportArchive.write_out` does, so these tests
exercise the directory handling alone; tests/export/test_classifier.py exports real models.
"""

import hashlib
import json
import os
import signal
import subprocess
import sys

import pytest

from nlpkit.export import (
    INCOMPLETE_PREFIX,
    RUN_CONFIG_PATH,
    existing_versions,
    export_model,
    load_latest,
    next_version,
    remove_stale_staging,
)
from tests.training.tiny_training import REPO_ROOT


class StandInArchive:
    """Writes saved_model.pb and variables/ like a SavedModel; can fail half-way."""

    def __init__(self, content="model", fail=False):
        self.content = content
        self.fail = fail
        self.paths = []

    def write_out(self, path, verbose=True):
        self.paths.append(path)
        with open(os.path.join(path, "saved_model.pb"), "w") as file:
            file.write(self.content)
        if self.fail:
            raise OSError("injected failure: disk full while writing variables/")
        os.makedirs(os.path.join(path, "variables"))
        with open(os.path.join(path, "variables", "variables.index"), "w") as file:
            file.write(self.content)


def tree_digest(directory):
    """A digest of every file path and content under `directory`."""
    digest = hashlib.sha256()
    for root, dirs, files in sorted(os.walk(directory)):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(root, name)
            digest.update(os.path.relpath(path, directory).encode())
            with open(path, "rb") as file:
                digest.update(file.read())
    return digest.hexdigest()


def test_versions_are_integer_directories_and_the_next_one_follows_the_highest(tmp_path):
    base = tmp_path / "sentiment"
    assert existing_versions(base) == [] and next_version(base) == 1
    for name in ("1", "3", "notes", INCOMPLETE_PREFIX + "abc"):
        (base / name).mkdir(parents=True)
    (base / "7").write_text("a file, not a version")
    assert existing_versions(base) == [1, 3]
    assert next_version(base) == 4


def test_export_writes_the_next_version_with_the_run_config(tmp_path):
    base = tmp_path / "sentiment"
    first = export_model(StandInArchive("one"), str(base))
    second = export_model(StandInArchive("two"), str(base), run_config={"epochs": 3})
    assert (first, second) == (str(base / "1"), str(base / "2"))
    assert (base / "1" / "saved_model.pb").read_text() == "one"
    assert (base / "2" / "variables" / "variables.index").read_text() == "two"
    assert json.loads((base / "2" / RUN_CONFIG_PATH).read_text()) == {"epochs": 3}
    assert not (base / "1" / RUN_CONFIG_PATH).exists()
    assert sorted(os.listdir(base)) == ["1", "2"]
    assert oct((base / "2").stat().st_mode & 0o777) == oct(0o755)


def test_explicit_version_is_never_overwritten(tmp_path):
    base = tmp_path / "sentiment"
    export_model(StandInArchive("one"), str(base), version=5)
    archive = StandInArchive("other")
    with pytest.raises(FileExistsError, match="5"):
        export_model(archive, str(base), version=5)
    assert archive.paths == []  # refused before writing anything
    assert (base / "5" / "saved_model.pb").read_text() == "one"
    assert next_version(base) == 6


@pytest.mark.parametrize("version", [0, -1, 1.0, "2", True])
def test_version_must_be_a_positive_integer(tmp_path, version):
    with pytest.raises(ValueError, match="positive integer"):
        export_model(StandInArchive(), str(tmp_path), version=version)


def test_failure_mid_export_leaves_earlier_versions_untouched_and_no_numbered_dir(tmp_path):
    base = tmp_path / "sentiment"
    export_model(StandInArchive("one"), str(base))
    export_model(StandInArchive("two"), str(base))
    before = tree_digest(base)
    archive = StandInArchive("three", fail=True)
    with pytest.raises(OSError, match="injected failure"):
        export_model(archive, str(base))
    assert os.path.basename(archive.paths[0]).startswith(INCOMPLETE_PREFIX)
    assert sorted(os.listdir(base)) == ["1", "2"]  # no "3", no leftover temporary directory
    assert tree_digest(base) == before


def test_bad_run_config_fails_after_the_model_was_written_and_leaves_nothing(tmp_path):
    base = tmp_path / "sentiment"
    export_model(StandInArchive("one"), str(base))
    with pytest.raises(TypeError, match="not JSON"):
        export_model(StandInArchive("two"), str(base), run_config={"model": object()})
    assert sorted(os.listdir(base)) == ["1"]


def test_non_chief_workers_write_a_temporary_copy_that_is_removed(tmp_path):
    base = tmp_path / "sentiment"
    archive = StandInArchive()
    assert export_model(archive, str(base), run_config={"a": 1}, chief=False) is None
    assert len(archive.paths) == 1  # the worker did run the saving code ...
    assert not archive.paths[0].startswith(str(tmp_path))
    assert not os.path.exists(archive.paths[0])  # ... into a directory that is gone
    assert not base.exists()


KILLED_EXPORT = """
import os, sys, time
from nlpkit.export import export_model

class SlowArchive:
    def write_out(self, path, verbose=True):
        with open(os.path.join(path, "saved_model.pb"), "w") as file:
            file.write("half")
        print("writing", flush=True)
        time.sleep(120)

export_model(SlowArchive(), sys.argv[1])
"""


def test_export_killed_mid_write_leaves_no_version_a_server_would_load(tmp_path):
    base = tmp_path / "sentiment"
    export_model(StandInArchive("one"), str(base))
    before = tree_digest(base / "1")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    process = subprocess.Popen(
        [sys.executable, "-c", KILLED_EXPORT, str(base)],
        cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        assert process.stdout.readline().strip() == "writing"
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        process.stdout.close()
    assert existing_versions(base) == [1]
    leftovers = [name for name in os.listdir(base) if name != "1"]
    assert len(leftovers) == 1 and leftovers[0].startswith(INCOMPLETE_PREFIX)
    assert tree_digest(base / "1") == before
    # The next export removes the dead process's leftover and takes the next integer.
    assert export_model(StandInArchive("two"), str(base)) == str(base / "2")
    assert sorted(os.listdir(base)) == ["1", "2"]


def test_leftovers_of_live_processes_and_other_hosts_are_kept(tmp_path):
    import socket

    base = tmp_path / "sentiment"
    host = socket.gethostname()
    kept = [f"{INCOMPLETE_PREFIX}{host}-{os.getpid()}-abc", f"{INCOMPLETE_PREFIX}elsewhere-1-x"]
    for name in kept:
        os.makedirs(base / name)
    assert remove_stale_staging(str(base)) == []
    assert sorted(os.listdir(base)) == sorted(kept)


def test_a_racing_export_that_took_the_version_pushes_this_one_to_the_next(tmp_path):
    base = tmp_path / "sentiment"

    class RacedArchive(StandInArchive):
        def write_out(self, path, verbose=True):
            super().write_out(path, verbose)
            if not (base / "1").exists():  # another exporter renames version 1 meanwhile
                export_model(StandInArchive("other"), str(base))

    assert export_model(RacedArchive("mine"), str(base)) == str(base / "2")
    assert existing_versions(base) == [1, 2]
    assert not [name for name in os.listdir(base) if name.startswith(INCOMPLETE_PREFIX)]
    with pytest.raises(FileExistsError):  # an explicit version is never moved
        export_model(StandInArchive("three"), str(base), version=2)


def test_load_latest_loads_the_highest_version_and_names_an_empty_base(tmp_path):
    import tensorflow as tf

    with pytest.raises(FileNotFoundError, match="no exported version"):
        load_latest(str(tmp_path / "none"))
    for version, value in ((1, 1.0), (3, 3.0), (2, 2.0)):
        module = tf.Module()
        module.value = tf.Variable(value)
        tf.saved_model.save(module, str(tmp_path / "model" / str(version)))
    assert float(load_latest(str(tmp_path / "model")).value) == 3.0
