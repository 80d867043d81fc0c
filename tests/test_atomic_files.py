"""nlpkit.atomic_files: a file or directory appears complete or not at all."""

import dataclasses
import json
import os
import pathlib

import pytest

from nlpkit.atomic_files import json_ready, write_json, written_atomically


def test_a_file_appears_only_when_the_block_succeeds(tmp_path):
    target = tmp_path / "out.txt"
    with written_atomically(target) as temporary:
        pathlib.Path(temporary).write_text("new")
        assert not target.exists() and os.path.dirname(temporary) == str(tmp_path)
    assert target.read_text() == "new"
    assert oct(target.stat().st_mode & 0o777) == oct(0o644)


def test_a_failing_block_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with written_atomically(target) as temporary:
            pathlib.Path(temporary).write_text("half")
            raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert sorted(os.listdir(tmp_path)) == ["out.txt"]


def test_a_directory_is_never_overwritten_and_failures_remove_it(tmp_path):
    target = tmp_path / "1"
    with written_atomically(target, directory=True, prefix=".incomplete-", overwrite=False) as d:
        pathlib.Path(d, "saved_model.pb").write_text("x")
    assert (target / "saved_model.pb").read_text() == "x"
    with pytest.raises(FileExistsError, match="already exists"):
        with written_atomically(target, directory=True, overwrite=False):
            pass
    with pytest.raises(FileExistsError, match="appeared while writing"):
        with written_atomically(tmp_path / "2", directory=True, overwrite=False) as d:
            os.mkdir(tmp_path / "2")  # another writer got there first
    assert sorted(os.listdir(tmp_path)) == ["1", "2"]


def test_write_json_sorts_converts_and_refuses_what_is_not_json(tmp_path):
    @dataclasses.dataclass
    class Options:
        widths: tuple = (3, 4)

    path = tmp_path / "config.json"
    write_json(path, {"b": pathlib.Path("x/y"), "a": Options()})
    assert json.loads(path.read_text()) == {"a": {"widths": [3, 4]}, "b": "x/y"}
    assert path.read_text().index('"a"') < path.read_text().index('"b"')
    with pytest.raises(TypeError, match=r"config\.b\[1\] is a object"):
        write_json(path, {"b": [1, object()]})
    assert json.loads(path.read_text())["b"] == "x/y"  # the old file is intact
    assert json_ready((1, 2)) == [1, 2]
