"""Whether an installed version is within a requirement's range: PEP 440, without importing ``packaging``.

Asked at a cold start (``vendored``: is the function's own copy of a package one the layer's code
declared it works with?), where ``packaging.specifiers`` would cost some 10 ms, and even compiling a
regular expression for PEP 440's spellings some 2 ms. So versions in their normal form (what
``packaging`` prints, what pip names a ``.dist-info`` with: ``1.45.2``, ``0.66b2``, ``3.0.post1``,
``1.0rc1.dev3``) and the specifiers ``packaging`` writes (``==``, ``!=``, ``<``, ``<=``, ``>``, ``>=``,
``~=``, comma-joined) are read with string methods, and compared with ``packaging``'s ordering and its
rules for ``<`` and ``>``, as ``SpecifierSet.contains(version, prereleases=True)`` would (an installed
pre-release counts: it is what is there). Anything else (another spelling, an epoch, a local label, a
``.*`` wildcard, ``===``) is left to ``packaging`` when it can be imported, else reported as unknown.
"""

from __future__ import annotations

#: Normal-form pre-release letters, in their order.
_PRE_ORDER = (("a", 0), ("b", 1), ("rc", 2))
#: Longest first, so that ``<=`` is not read as ``<``.
_OPERATORS = ("~=", "==", "!=", "<=", ">=", "<", ">")


class _Version:
    """A parsed version (a plain class: the first NamedTuple of a process costs ~3 ms)."""

    __slots__ = ("dev", "post", "pre", "release")

    def __init__(
        self, release: tuple[int, ...], pre: tuple[int, int] | None, post: int | None, dev: int | None
    ) -> None:
        self.release, self.pre, self.post, self.dev = release, pre, post, dev

    @property
    def key(self) -> tuple[object, ...]:
        """packaging's sort key: trailing zeros of the release ignored; a dev release of a final release
        before its pre-releases, pre-releases before the release, post-releases after it."""
        release = list(self.release)
        while len(release) > 1 and release[-1] == 0:
            release.pop()
        if self.pre is None and self.post is None and self.dev is not None:
            pre: tuple[int, ...] = (-1,)
        else:
            pre = (3,) if self.pre is None else self.pre
        post = -1 if self.post is None else self.post
        dev: tuple[int, ...] = (1,) if self.dev is None else (0, self.dev)
        return (tuple(release), pre, post, dev)


def _number(text: str) -> int | None:
    return int(text) if text.isascii() and text.isdigit() else None


def _split_suffix(text: str, marker: str) -> tuple[str, int | None] | None:
    """``("1.0", 3)`` for ``"1.0.dev3"`` and ``".dev"``; ``(text, None)`` without it; None if malformed."""
    head, found, tail = text.rpartition(marker)
    if not found:
        return text, None
    number = _number(tail)
    return None if number is None else (head, number)


def _parse(text: str) -> _Version | None:
    """A version in its normal form; None for anything else."""
    split = _split_suffix(text.strip(), ".dev")
    if split is None:
        return None
    rest, dev = split
    split = _split_suffix(rest, ".post")
    if split is None:
        return None
    rest, post = split
    pre = None
    for letter, order in _PRE_ORDER:
        head, found, tail = rest.partition(letter)
        if found:
            number = _number(tail)
            if number is None:
                return None
            rest, pre = head, (order, number)
            break
    release = [_number(part) for part in rest.split(".")]
    if any(part is None for part in release):
        return None
    return _Version(tuple(part for part in release if part is not None), pre, post, dev)


def _padded(release: tuple[int, ...], length: int) -> tuple[int, ...]:
    return (release + (0,) * length)[:length]


def _holds(op: str, version: _Version, bound: _Version) -> bool:
    have, want = version.key, bound.key
    if op == "==":
        return have == want
    if op == "!=":
        return have != want
    if op == "<=":
        return have <= want
    if op == ">=":
        return have >= want
    if op in ("<", ">") and version.key[0] != bound.key[0]:
        return have < want if op == "<" else have > want
    # The same release: <V and >V leave out V's own family.
    if op == "<":
        # <2.0 is <2.0.dev0 (none of 2.0's pre-releases), <2.0.post1 is <2.0.post1.dev0; a pre-release or
        # dev release bound is itself below the release.
        if bound.pre is not None or bound.dev is not None:
            return have < want
        return have < _Version(bound.release, None, bound.post, 0).key
    if op == ">":
        # >2.0 admits none of 2.0's post-releases, >2.0rc1 none of 2.0rc1's; a post or dev bound is exact.
        if bound.dev is not None or bound.post is not None:
            return have > want
        return have > want and version.pre != bound.pre
    # ~=1.4.5 is >=1.4.5 and the same release up to the last number given (1.4).
    prefix = bound.release[:-1]
    return have >= want and _padded(version.release, len(prefix)) == prefix


def _simple(version: str, specifier: str) -> bool | None:
    """The answer for the forms above; None when ``version`` or a clause is not one of them."""
    parsed = _parse(version)
    if parsed is None:
        return None
    results = []
    for clause in (clause.strip() for clause in specifier.split(",")):
        if not clause:
            continue
        op = next((op for op in _OPERATORS if clause.startswith(op)), None)
        if op is None or clause.startswith("==="):
            return None
        bound = _parse(clause[len(op) :])
        if bound is None or (op == "~=" and len(bound.release) < 2):
            return None
        results.append(_holds(op, parsed, bound))
    return all(results)


def satisfies(version: str, specifier: str) -> bool | None:
    """Whether ``version`` is within ``specifier`` (``">=3.0,<4"``; empty: any version); None when that
    cannot be told (a form this module leaves to ``packaging``, and ``packaging`` is not importable)."""
    answer = _simple(version, specifier)
    if answer is not None:
        return answer
    try:
        from packaging.specifiers import InvalidSpecifier, SpecifierSet
        from packaging.version import InvalidVersion, Version
    except ImportError:
        return None
    try:
        return SpecifierSet(specifier).contains(Version(version), prereleases=True)
    except (InvalidSpecifier, InvalidVersion):
        return None
