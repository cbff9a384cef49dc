"""The fenced code blocks of the user and maintainer docs, with the HTML comments that say how each runs.

Every block runs (``tests/integration/test_docs.py``) unless the comment right before it says why not.
The comments, each on the lines just above the opening fence (blank lines between are allowed):

- ``<!-- not run: why -->``: the block is not run; the reason is required.
- ``<!-- setup: ... -->``: code run first, hidden from the reader, in the block's language (it may span
  lines up to ``-->``): what the reader has already (a queue URL, an ``app``).
- ``<!-- then: ... -->``: code run after the block, hidden too: what exercises what the block defines
  (calls the handler it wrote).
- ``<!-- file: NAME -->``: the block is a file the reader writes: it is saved as NAME in the page's
  directory, where later blocks of the page (run in order, in that one directory) use it.
- ``<!-- expect: TEXT -->``: the block's output must contain TEXT.

Blocks run in ``python`` (executed; a CDK app calls ``app.synth()`` itself), ``bash``/``sh``/``shell``
(run by ``bash -euo pipefail``) or ``console`` (its ``$ `` lines run as ``bash``; the rest is output).
A block in any other language must be a file or be marked not run.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PYTHON = "python"
SHELL = "bash"
LANGUAGES = {"python": PYTHON, "py": PYTHON, "bash": SHELL, "sh": SHELL, "shell": SHELL, "console": SHELL}

_FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>```+|~~~+)\s*(?P<info>[^`\s]*)")
_COMMENT = re.compile(r"<!--\s*(?P<kind>not run|setup|then|file|expect):(?P<body>.*?)-->", re.DOTALL)


@dataclass(frozen=True)
class Block:
    """One fenced block: where it is, its language, its code and what the comments before it say."""

    path: Path
    line: int  # of the opening fence, 1-based
    language: str  # the info string's first word, as written
    code: str
    not_run: str | None = None
    setup: str = ""
    then: str = ""
    file: str | None = None
    expect: tuple[str, ...] = ()

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(REPO)}:{self.line}"

    @property
    def runner(self) -> str | None:
        """``python`` or ``bash``, or None for a language no runner takes."""
        return LANGUAGES.get(self.language.lower())

    def script(self) -> str:
        """What runs: the setup, the block (a console block's ``$`` lines), then what exercises it."""
        code = self.code
        if self.language.lower() == "console":
            code = "\n".join(line[2:] for line in code.splitlines() if line.startswith("$ "))
        return "\n".join(part for part in (self.setup, code.rstrip("\n"), self.then) if part) + "\n"


def doc_pages() -> list[Path]:
    """The pages whose blocks must run: README.md, CONTRIBUTING.md and docs/*.md."""
    return [REPO / "README.md", REPO / "CONTRIBUTING.md", *sorted((REPO / "docs").glob("*.md"))]


def blocks(path: Path) -> list[Block]:
    """The fenced blocks of one Markdown page, in order, each with the comments just above it."""
    lines = path.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        fence, indent = opening["fence"], len(opening["indent"])
        body: list[str] = []
        end = index + 1
        while end < len(lines) and not lines[end].strip().startswith(fence):
            body.append(_unindent(lines[end], indent))
            end += 1
        found.append(_with_comments(path, index + 1, opening["info"], "\n".join(body) + "\n", _comments(lines, index)))
        index = end + 1
    return found


def _comments(lines: list[str], fence_index: int) -> list[tuple[str, str]]:
    """The ``<!-- kind: body -->`` comments directly above the fence (blank lines between allowed), in order."""
    before = "\n".join(lines[:fence_index]).rstrip()
    found: list[tuple[str, str]] = []
    while before.endswith("-->"):
        opening = before.rfind("<!--")
        match = _COMMENT.fullmatch(before[opening:])
        if match is not None:
            found.append((match["kind"], _body(match["body"])))
        before = before[:opening].rstrip()
    return found[::-1]


def _unindent(line: str, indent: int) -> str:
    """A line of a block whose fence is indented by ``indent`` (in a list item), without that indent."""
    return line[min(indent, len(line) - len(line.lstrip(" "))) :]


def _body(text: str) -> str:
    """A comment's text: its first line, then the rest dedented (a comment in a list item is indented)."""
    first, _, rest = text.partition("\n")
    return (first.strip() + "\n" + textwrap.dedent(rest)).strip()


def _with_comments(path: Path, line: int, info: str, code: str, comments: list[tuple[str, str]]) -> Block:
    options: dict[str, str] = {}
    expect: list[str] = []
    for kind, body in comments:
        if kind == "expect":
            expect.append(body)
        else:
            options[kind] = body
    return Block(
        path=path,
        line=line,
        language=info.split("{", maxsplit=1)[0],
        code=code,
        not_run=options.get("not run"),
        setup=options.get("setup", ""),
        then=options.get("then", ""),
        file=options.get("file"),
        expect=tuple(expect),
    )
