"""Every environment variable name and the session header are spelled in one place each.

``honeyhive_serverless.variables`` names the variables and ``honeyhive_serverless.wire`` HoneyHive's wire
names; everything else under ``layer/`` and ``cdk/`` goes through their constants, so a typo is a
NameError rather than a setting that is silently ignored. Only a string constant that *is* such a name
counts: docstrings, and messages that mention a name among other words, are prose.

The emulator is held to this for the project's own names only: it plays Lambda and sets Lambda's
whole environment, most of which nothing here reads.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

from conftest import REPO as ROOT
from honeyhive_serverless import variables, wire

SCANNED = (ROOT / "layer", ROOT / "cdk")
# Installed npm packages and synthesized output: not this project's code.
SKIPPED = (ROOT / "cdk" / "node_modules", ROOT / "cdk" / "cdk.out")
# Where Lambda's own variable names are spelled as Lambda spells them.
PLATFORM_PLAYERS = (ROOT / "layer" / "honeyhive_serverless_dev" / "emulator",)
# The two modules that define the names.
HOMES = {Path(variables.__file__).resolve(), Path(wire.__file__).resolve()}

PROJECT_VARIABLE = re.compile(r"HH_[A-Z0-9_]+|HONEYHIVE_[A-Z_]+")
# How a variable name looks; variables.py's other constants (the redirect handler) are values.
VARIABLE_SHAPE = re.compile(r"[A-Z_][A-Z0-9_]*")


def string_constants(module: object) -> dict[str, str]:
    """The module's upper-case ``str`` constants, by attribute name."""
    return {
        name: value
        for name, value in vars(module).items()
        if name.isupper() and not name.startswith("_") and isinstance(value, str)
    }


PLATFORM_VARIABLES = frozenset(
    value
    for value in string_constants(variables).values()
    if VARIABLE_SHAPE.fullmatch(value) and not PROJECT_VARIABLE.fullmatch(value)
)


def is_spelled_name(text: str, *, platform_names: bool = True) -> bool:
    """Whether ``text`` is exactly a variable name of this project (or, with ``platform_names``, of
    the platform that this project reads) or the session header."""
    return (
        PROJECT_VARIABLE.fullmatch(text) is not None
        or (platform_names and text in PLATFORM_VARIABLES)
        or text.casefold() == wire.SESSION_HEADER.casefold()
    )


def python_files() -> Iterator[Path]:
    for top in SCANNED:
        for path in sorted(top.rglob("*.py")):
            if not any(path.is_relative_to(skipped) for skipped in SKIPPED) and path.resolve() not in HOMES:
                yield path


def spelled_names(source: str, filename: str = "<sample>", *, platform_names: bool = True) -> list[tuple[int, str]]:
    """``(line, text)`` of each string constant in ``source`` that spells a name, docstrings aside."""
    tree = ast.parse(source, filename=filename)
    # A string expression statement is a docstring (or a bare comment-like string): prose.
    prose = {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
    }
    return sorted(
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in prose
        and is_spelled_name(node.value, platform_names=platform_names)
    )


def test_names_are_spelled_only_in_variables_and_wire() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{line}: {text!r}"
        for path in python_files()
        for line, text in spelled_names(
            path.read_text(encoding="utf-8"),
            str(path),
            platform_names=not any(path.with_suffix("").is_relative_to(player) for player in PLATFORM_PLAYERS),
        )
    ]
    assert not found, "spell these through honeyhive_serverless.variables / .wire:\n" + "\n".join(found)


def test_the_scan_sees_what_it_must() -> None:
    assert {variables.LAMBDA_HANDLER_SETTING, variables.LAMBDA_EXEC_WRAPPER} <= PLATFORM_VARIABLES
    assert is_spelled_name("HH_ANYTHING") and is_spelled_name("x-session-id")
    assert not is_spelled_name("HH_API_KEY=") and not is_spelled_name(variables.REDIRECT_HANDLER)
    sample = (
        "def f():\n"
        '    """Uses HH_API_KEY."""\n'
        '    "HH_X"\n'
        '    return {"HH_API_KEY": f"HH_Y={1}", "k": "_HANDLER", "m": "set HH_API_KEY"}\n'
    )
    assert spelled_names(sample) == [(4, "HH_API_KEY"), (4, "_HANDLER")]


def test_every_variable_constant_is_a_distinct_value() -> None:
    constants = string_constants(variables)
    by_value: dict[str, list[str]] = {}
    for name, value in constants.items():
        by_value.setdefault(value, []).append(name)
    assert {value: names for value, names in by_value.items() if len(names) > 1} == {}
