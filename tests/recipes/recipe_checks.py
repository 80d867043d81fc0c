"""What every recipe's tests share: running a recipe as a program, loading it as a module, and
checking its numeric flags."""

import importlib.util
import os
import subprocess
import sys

import pytest

from nlpkit.cli import NumberRange

RECIPES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "recipes")


def recipe_path(name):
    return os.path.join(RECIPES, f"{name}.py")


def recipe_runner(name):
    """A function `run(*args, stdin=None)` that runs `recipes/<name>.py` as a program (quiet
    TensorFlow logs, the repository importable) and returns the `subprocess.CompletedProcess`."""
    path = recipe_path(name)

    def run(*args, stdin=None):
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=os.path.dirname(RECIPES))
        return subprocess.run([sys.executable, path, *args], input=stdin, capture_output=True,
                              env=env, timeout=600)

    return run


def recipe_module(name):
    """`recipes/<name>.py` as a module, to call its `build_parser`, `parse_args` and `main`."""
    spec = importlib.util.spec_from_file_location(f"{name}_recipe",
                                                  os.path.join(RECIPES, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def check_numeric_flags_at_their_edges(recipe, capsys, at_least=20):
    """Every `NumberRange` flag of `recipe` states its range in --help, accepts the values at
    the edges of that range, and refuses the values just outside with exit 2 naming the flag."""
    numeric = [action for action in recipe.build_parser()._actions
               if isinstance(action.type, NumberRange)]
    assert len(numeric) >= at_least
    for action in numeric:
        flag = action.option_strings[0]
        assert str(action.type) in " ".join(action.help.split()), flag
        accepted, refused = action.type.edges()
        for value in accepted:
            _, args = recipe.parse_args([f"{flag}={value}"])
            assert getattr(args, action.dest) == value, flag
        for text in refused:
            with pytest.raises(SystemExit) as raised:
                recipe.parse_args([f"{flag}={text}"])
            assert raised.value.code == 2, (flag, text)
            assert f"argument {flag}: expected {action.type}" in capsys.readouterr().err
