"""The one JSON-safety rule (``attributes``): what a captured value, a cut text and a request field become."""

from __future__ import annotations

import json
from typing import Any

import pytest

from honeyhive_serverless.attributes import MAX_STRING, capture, json_safe, to_json, truncate


class _BadStr:
    def __str__(self) -> str:
        raise LookupError("no text for you")

    def __repr__(self) -> str:
        return "<bad>"


def _circular() -> dict[str, Any]:
    node: dict[str, Any] = {}
    node["self"] = node
    return node


def test_a_value_that_fits_is_captured_as_itself() -> None:
    value = {"question": "café?", "n": 3}
    assert capture(value, 1000) is value


def test_a_value_over_the_limit_becomes_its_text_cut_to_the_limit_with_a_marker() -> None:
    captured = capture({"blob": "é" * 500}, 100)
    assert isinstance(captured, str)
    assert len(captured.encode("utf-8")) <= 100
    assert captured.endswith("bytes]")
    assert "[truncated" in captured


def test_the_limit_counts_the_bytes_a_request_carries() -> None:
    value = {"text": "é" * 10}  # 20 bytes as UTF-8, 60 as the ASCII-escaped JSON a request sends
    assert len(json.dumps(value)) > 50
    assert capture(value, 50) is not value


@pytest.mark.parametrize(
    "value", [_circular(), {"x": _BadStr()}, _BadStr()], ids=["circular", "bad-str-inside", "bad-str"]
)
def test_what_json_cannot_encode_is_captured_as_text_and_never_raises(value: Any) -> None:
    captured = capture(value, 1000)
    assert isinstance(captured, str)
    assert to_json(value)
    assert isinstance(json_safe(value), str)


def test_a_request_field_json_cannot_encode_is_bounded_text() -> None:
    deep: list[Any] = []
    for _ in range(100_000):
        deep = [deep]
    safe = json_safe(deep)
    assert isinstance(safe, str)
    assert len(safe.encode("utf-8")) <= MAX_STRING


def test_a_cut_never_splits_a_character_and_counts_what_it_dropped() -> None:
    text = "日本語" * 100  # 900 bytes
    cut = truncate(text, 64)
    kept, marker = cut.split("...[truncated ")
    assert len(cut.encode("utf-8")) <= 64
    assert set(kept) <= set("日本語")
    assert int(marker.removesuffix(" bytes]")) == len(text.encode("utf-8")) - len(kept.encode("utf-8"))


def test_lone_surrogates_become_valid_utf8() -> None:
    assert to_json({"prompt": "caf\udce9"}).encode("utf-8")
    cut = truncate("a\udcff", 10)
    assert cut.encode("utf-8") and cut.startswith("a") and "\udcff" not in cut
