"""Versioned, all-or-nothing SavedModel exports: `<export_base>/<version>/`.

TensorFlow Serving watches a model's base directory and loads the highest integer-named
subdirectory as soon as it appears, so a version directory must never be visible half-written.
`export_model` writes into a temporary `.incomplete-*` directory in the same parent (Serving
ignores names that are not integers) and renames it to the version number only when everything,
the run config included, has been written. A rename within one file system is atomic, and an
existing version is never overwritten.

If the process is killed in the middle, an `.incomplete-<host>-<pid>-*` directory stays behind;
the next export on that host removes those whose process is gone. Two exports racing for the same
automatic version both succeed: the one that renames second takes the next free version.

Layout of one export:

    saved_models/sentiment/3/saved_model.pb
    saved_models/sentiment/3/variables/...
    saved_models/sentiment/3/assets/labels.txt
    saved_models/sentiment/3/assets.extra/run_config.json

`assets.extra/` is the SavedModel directory for files that the model does not load but that belong
to this version (Serving reads only its own warm-up file there), so the config travels with the
exact model it describes.
"""

import os
import shutil
import socket

from nlpkit.atomic_files import write_json, written_atomically
from nlpkit.training.run_lock import process_alive
from nlpkit.training.strategy import chief_write_dir, is_chief

INCOMPLETE_PREFIX = ".incomplete-"
RUN_CONFIG_PATH = os.path.join("assets.extra", "run_config.json")


def _staging_prefix():
    """`.incomplete-<host>-<pid>-`: says which process a leftover staging directory was for."""
    return f"{INCOMPLETE_PREFIX}{socket.gethostname()}-{os.getpid()}-"


def remove_stale_staging(export_base):
    """Removes the `.incomplete-*` directories that killed exports on this host left behind
    (their process is gone); returns their names. Another host's are left alone."""
    if not os.path.isdir(export_base):
        return []
    host_prefix = f"{INCOMPLETE_PREFIX}{socket.gethostname()}-"
    removed = []
    for name in sorted(os.listdir(export_base)):
        if not name.startswith(host_prefix):
            continue
        pid = name[len(host_prefix):].split("-", 1)[0]
        if pid.isdigit() and not process_alive(int(pid)):
            shutil.rmtree(os.path.join(export_base, name), ignore_errors=True)
            removed.append(name)
    return removed


def existing_versions(export_base):
    """Sorted integer versions under `export_base` (empty if it does not exist)."""
    if not os.path.isdir(export_base):
        return []
    return sorted(
        int(name)
        for name in os.listdir(export_base)
        if name.isdigit() and os.path.isdir(os.path.join(export_base, name))
    )


def load_latest(export_base):
    """The highest version under `export_base`, loaded with `tf.saved_model.load`.

    TF Text's ops are registered first (exported tokenizers use them).

    Raises:
        FileNotFoundError: `export_base` holds no version.
    """
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  registers the ops of exported tokenizers

    versions = existing_versions(export_base)
    if not versions:
        raise FileNotFoundError(f"{export_base}: no exported version; train first")
    return tf.saved_model.load(os.path.join(export_base, str(versions[-1])))


def next_version(export_base):
    """The next free version: one more than the highest existing one, or 1."""
    versions = existing_versions(export_base)
    return versions[-1] + 1 if versions else 1


def _write_export(archive, directory, run_config):
    archive.write_out(directory, verbose=False)
    if run_config is not None:
        write_json(os.path.join(directory, RUN_CONFIG_PATH), run_config)


def export_model(archive, export_base, *, version=None, run_config=None, chief=None):
    """Writes `archive` as the SavedModel `<export_base>/<version>/`, all or nothing.

    Args:
        archive: a `keras.export.ExportArchive` with its endpoints added (the first, or the one
            named `serving_default`, is what TensorFlow Serving calls).
        export_base: the model's base directory, e.g. `saved_models/sentiment`.
        version: a positive integer; `None` takes `next_version(export_base)`. An existing
            version is never overwritten.
        run_config: optional JSON-ready dict written to `<version>/assets.extra/run_config.json`.
        chief: whether this process is the chief; `None` asks `is_chief()`. Under
            multi-worker training every worker must call `export_model` (saving can involve
            collective ops); the others write to a temporary directory that is removed.

    Returns:
        The path of the new version directory on the chief, `None` on other workers.

    Raises:
        ValueError: `version` is not a positive integer.
        FileExistsError: `<export_base>/<version>` already exists.
    """
    if version is not None and (
        isinstance(version, bool) or not isinstance(version, int) or version < 1
    ):
        raise ValueError(f"version must be a positive integer, got {version!r}")
    chief = is_chief() if chief is None else chief
    if not chief:
        with chief_write_dir(export_base, chief=False) as scratch:
            _write_export(archive, scratch, run_config)
        return None

    os.makedirs(export_base, exist_ok=True)
    remove_stale_staging(export_base)
    automatic = version is None
    version = next_version(export_base) if automatic else version
    target = os.path.join(str(export_base), str(version))
    if os.path.lexists(target):
        raise FileExistsError(f"{target} already exists; an export never overwrites a version")
    targets = [target]

    def next_free_version(_):
        # Another export took the planned version while this one was writing.
        targets.append(os.path.join(str(export_base), str(next_version(export_base))))
        return targets[-1]

    # Serving ignores names that are not integers, so the staging directory stays invisible to it.
    with written_atomically(
        target, directory=True, prefix=_staging_prefix(), overwrite=False,
        next_target=next_free_version if automatic else None,
    ) as staging:
        _write_export(archive, staging, run_config)
    return targets[-1]

