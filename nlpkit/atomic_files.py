"""All-or-nothing writes: a file or directory appears under its name complete, or not at all.

Every writer in nlpkit (run configs and metrics, per-epoch weights, SavedModel exports) writes to a
temporary name in the target's own directory and renames it when done. A rename within one file
system is atomic, so a process killed at any moment leaves either the old content or the new one,
never half of it; the temporary name starts with a dot and is removed when writing fails.
"""

import contextlib
import dataclasses
import json
import os
import pathlib
import shutil
import tempfile


@contextlib.contextmanager
def written_atomically(target, *, directory=False, prefix=None, suffix="", overwrite=True,
                       next_target=None):
    """Yields a temporary path beside `target`; renames it to `target` when the block succeeds.

    Args:
        target: the final path of the file (or directory).
        directory: yield an empty directory instead of a file name.
        prefix: the temporary name's prefix; default `.<target name>-`.
        suffix: the temporary name's suffix (Keras only saves weights to names ending in
            `.weights.h5`, for example).
        overwrite: replace an existing `target`; when False an existing target raises
            `FileExistsError`, before and after writing, and is never touched.
        next_target: with `overwrite=False`, a function `target -> another target` to try
            when `target` appeared while writing (e.g. the next export version), instead of
            raising.

    Yields:
        The temporary path (a string) to write to.

    Raises:
        FileExistsError: `overwrite=False` and `target` exists.
    """
    target = str(target)
    parent = os.path.dirname(os.path.abspath(target))
    os.makedirs(parent, exist_ok=True)
    if not overwrite and os.path.lexists(target):
        raise FileExistsError(f"{target} already exists; not overwriting it")
    prefix = prefix if prefix is not None else f".{os.path.basename(target)}-"
    if directory:
        temporary = tempfile.mkdtemp(prefix=prefix, suffix=suffix, dir=parent)
    else:
        handle, temporary = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=parent)
        os.close(handle)
    try:
        yield temporary
        # mkstemp and mkdtemp make private entries; what we write is meant to be read (a server
        # may run as another user).
        os.chmod(temporary, 0o755 if directory else 0o644)
        if not overwrite:
            _rename_to_free_name(temporary, target, next_target)
        else:
            os.replace(temporary, target)
    except BaseException:
        if os.path.isdir(temporary) and not os.path.islink(temporary):
            shutil.rmtree(temporary, ignore_errors=True)
        elif os.path.lexists(temporary):
            os.unlink(temporary)
        raise


def json_ready(value, where="value"):
    """`value` with paths turned into strings and dataclasses (e.g. a model's options) into
    dicts; raises `TypeError` naming any entry that is not JSON."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    if isinstance(value, pathlib.PurePath):
        return str(value)
    if isinstance(value, dict):
        return {str(key): json_ready(item, f"{where}.{key}") for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(item, f"{where}[{index}]") for index, item in enumerate(value)]
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    raise TypeError(f"{where} is a {type(value).__name__}, not JSON: {value!r}")


def write_json(path, value):
    """Writes `value` as indented, key-sorted JSON to `path`, all or nothing.

    Returns:
        `path` as a string.

    Raises:
        TypeError: an entry is not JSON (paths are written as strings); nothing is written and
            an existing file keeps its content.
    """
    text = json.dumps(json_ready(value, "config"), indent=2, sort_keys=True) + "\n"
    with written_atomically(path, suffix=".json") as temporary:
        with open(temporary, "w", encoding="utf-8") as file:
            file.write(text)
    return str(path)


def _rename_to_free_name(temporary, target, next_target):
    while True:
        if os.path.lexists(target):
            if next_target is None:
                raise FileExistsError(f"{target} appeared while writing; not overwriting it")
            target = str(next_target(target))
            continue
        try:
            # os.rename replaces an empty directory on POSIX: a racing writer's fresh, still
            # empty target must not be taken over, hence the check above and this one.
            os.rename(temporary, target)
            return
        except OSError:
            if not os.path.lexists(target) or next_target is None:
                raise
