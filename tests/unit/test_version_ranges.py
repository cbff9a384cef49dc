"""``version_ranges.satisfies`` answers as ``packaging`` does (``SpecifierSet.contains(version,
prereleases=True)``): checked on generated versions and specifiers, and on the forms it leaves to
``packaging``."""

from __future__ import annotations

import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from honeyhive_serverless.version_ranges import satisfies

OPERATORS = ("==", "!=", "<", "<=", ">", ">=", "~=")
numbers = st.integers(min_value=0, max_value=3)


@st.composite
def versions(draw: st.DrawFn, min_release: int = 1) -> str:
    """Versions as distributions publish them: mostly in their normal form (read without packaging),
    sometimes in another spelling (left to packaging)."""
    release = ".".join(str(part) for part in draw(st.lists(numbers, min_size=min_release, max_size=4)))
    pre = draw(st.sampled_from(["", "", "a", "b", "rc", "-alpha", ".beta", "c"]))
    if pre:
        pre += str(draw(numbers))
    post = draw(st.sampled_from(["", "", ".post", ".post", "-", ".rev"]))
    if post:
        post += str(draw(numbers))
    dev = draw(st.sampled_from(["", "", ".dev", "dev"]))
    if dev:
        dev += str(draw(numbers))
    return release + pre + post + dev


@st.composite
def specifiers(draw: st.DrawFn) -> str:
    clauses = []
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        operator = draw(st.sampled_from(OPERATORS))
        clauses.append(operator + draw(versions(min_release=2 if operator == "~=" else 1)))
    return ",".join(clauses)


@settings(max_examples=1500, deadline=None)
@given(versions(), specifiers())
def test_the_answer_is_packagings(version: str, specifier: str) -> None:
    assert satisfies(version, specifier) is SpecifierSet(specifier).contains(Version(version), prereleases=True)


@pytest.mark.parametrize(
    ("version", "specifier", "expected"),
    [
        ("3.4.1", "<4,>=3.0", True),
        ("0.61b0", "==0.66b2", False),
        ("2.0rc1", "<2.0", False),  # a pre-release of the bound itself is not below it
        ("2.0.post1", ">2.0", False),  # nor is a post-release above it
        ("1.4.9", "~=1.4.5", True),
        ("1.5.0", "~=1.4.5", False),
        ("1.45.2", "", True),
        # Left to packaging: a wildcard, a local label, an epoch, other spellings.
        ("1.4.7", "==1.4.*", True),
        ("1.0+local", ">=1.0", True),
        ("1!1.0", ">=2.0", True),
        ("2.0-1", ">2.0", False),
        ("v2.0.0-ALPHA1", "<2", False),
    ],
)
def test_examples(version: str, specifier: str, expected: bool) -> None:
    assert satisfies(version, specifier) is expected


def test_what_only_packaging_reads_is_unknown_without_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "packaging.specifiers", None)
    assert satisfies("1.4.7", "==1.4.*") is None
    assert satisfies("1.0-1", ">=1.0") is None
    assert satisfies("1.4.7rc1.post2.dev3", "~=1.4.5,!=1.4.6,<1.5") is True  # the normal form needs none


def test_nonsense_is_unknown() -> None:
    assert satisfies("not a version", ">=1") is None
    assert satisfies("1.0", ">=>1") is None
