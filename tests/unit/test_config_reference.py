"""docs/configuration.md is generated from variables.py and config.py, and cannot drift from them."""

from __future__ import annotations

import logging
from collections import Counter

import pytest

from conftest import REPO
from honeyhive_serverless import variables
from honeyhive_serverless.config import BOOL_VALUES, resolve_config, resolve_wrapper_options
from honeyhive_serverless_dev.config_reference import EXAMPLE_WARNING, entries, render

REFERENCE = REPO / "docs" / "configuration.md"


def test_the_committed_reference_is_what_the_generator_writes() -> None:
    assert REFERENCE.read_text(encoding="utf-8") == render(), "docs/configuration.md is stale: run `make docs`"


def test_every_variable_of_the_project_has_exactly_one_entry() -> None:
    documented = Counter(entry.name for entry in entries())
    assert [name for name, count in documented.items() if count > 1] == []
    project_names = variables.HH_NAMES | {variables.API_KEY_SDK_ALIAS, variables.SERVER_URL_SDK_ALIAS}
    assert set(documented) == project_names
    assert {variables.LAMBDA_HANDLER, variables.LAYER_CACHE_DIR} <= set(documented)


def test_documented_defaults_are_the_ones_that_apply() -> None:
    """Each switch and number whose setting has a field of its own: the default written is the one an empty
    environment resolves to."""
    resolved = {**resolve_config(env={})._asdict(), **resolve_wrapper_options(env={})._asdict()}
    checked = 0
    for entry in entries():
        field = entry.name.removeprefix("HH_").lower()
        if field not in resolved:
            continue
        if entry.values == BOOL_VALUES and entry.default in ("true", "false"):
            assert resolved[field] is (entry.default == "true"), entry.name
            checked += 1
        elif entry.default.isdigit():
            assert resolved[field] == int(entry.default), entry.name
            checked += 1
    assert checked >= 20


def test_the_example_warning_is_the_line_the_rule_writes(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="honeyhive_serverless"):
        resolve_config(env={variables.EXPORT_MODE: "bogus", variables.LAMBDA_FUNCTION_NAME: "fn"})
    assert [record.getMessage() for record in caplog.records] == [EXAMPLE_WARNING]
