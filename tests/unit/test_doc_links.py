"""The docs' relative links lead somewhere: every file they name exists and every #anchor they name is a
heading of that page (as GitHub makes anchors). The parsing of their code blocks, which
``tests/integration/test_docs.py`` runs, is tested here too."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from doc_blocks import PYTHON, REPO, SHELL, blocks, doc_pages

_LINK = re.compile(r"\[[^\]]*\]\((?P<target>[^)\s]+)\)")
_HEADING = re.compile(r"^#{1,6}\s+(?P<title>.+?)\s*#*\s*$")
_FENCE = re.compile(r"^ {0,3}(```|~~~)")


def _prose(path: Path) -> list[str]:
    """The page's lines outside code blocks."""
    lines, inside = [], False
    for line in path.read_text(encoding="utf-8").splitlines():
        if _FENCE.match(line):
            inside = not inside
        elif not inside:
            lines.append(line)
    return lines


def anchors(path: Path) -> set[str]:
    """GitHub's anchors for the page's headings: lower case, punctuation dropped, spaces to dashes."""
    found: set[str] = set()
    for line in _prose(path):
        match = _HEADING.match(line)
        if match is None:
            continue
        slug = re.sub(r"[^\w\- ]", "", match["title"].lower().replace("`", "")).replace(" ", "-")
        candidate, count = slug, 1
        while candidate in found:
            candidate, count = f"{slug}-{count}", count + 1
        found.add(candidate)
    return found


def relative_links(path: Path) -> list[str]:
    return [
        match["target"]
        for line in _prose(path)
        for match in _LINK.finditer(line)
        if not re.match(r"[a-z]+:", match["target"])
    ]


@pytest.mark.parametrize("page", doc_pages(), ids=lambda page: str(page.relative_to(REPO)))
def test_every_relative_link_names_an_existing_file_and_heading(page: Path) -> None:
    broken = []
    for target in relative_links(page):
        file_part, _, anchor = target.partition("#")
        destination = (page.parent / file_part).resolve() if file_part else page
        if not destination.exists():
            broken.append(f"{target}: no such file")
        elif anchor and destination.suffix == ".md" and anchor not in anchors(destination):
            broken.append(f"{target}: no heading #{anchor} in {destination.relative_to(REPO)}")
    assert not broken, f"{page.relative_to(REPO)}: " + "; ".join(broken)


def test_the_docs_link_their_pages_from_the_readme() -> None:
    linked = {(REPO / target.partition("#")[0]).resolve() for target in relative_links(REPO / "README.md")}
    assert {page for page in doc_pages() if page.parent.name == "docs"} <= linked


def test_blocks_carry_the_comments_above_them_and_only_those(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "Text.\n\n<!-- not run: needs a real account -->\n```bash\naws s3 ls\n```\n\n"
        "<!-- setup: import os -->\n<!-- expect: hello -->\n<!-- then: main() -->\n\n```python\nprint('hello')\n```\n\n"
        "<!-- file: app.py -->\n```python\nx = 1\n```\n\n"
        "```console\n$ hh-serverless --help\nusage: ...\n```\n\n"
        "```yaml\na: 1\n```\n\n<!-- a plain comment -->\n```sh\ntrue\n```\n",
        encoding="utf-8",
    )

    shell, python, file, console, yaml, sh = blocks(page)

    assert (shell.not_run, shell.runner, shell.line) == ("needs a real account", SHELL, 4)
    assert (python.setup, python.expect, python.not_run) == ("import os", ("hello",), None)
    assert python.script() == "import os\nprint('hello')\nmain()\n" and python.runner == PYTHON
    assert (file.file, file.code) == ("app.py", "x = 1\n")
    assert console.script() == "hh-serverless --help\n"
    assert yaml.runner is None and yaml.not_run is None
    assert (sh.not_run, sh.setup, sh.file, sh.runner) == (None, "", None, SHELL)


def test_the_readme_gives_the_two_set_up_commands_of_a_fresh_machine() -> None:
    commands = [line.split("#")[0].strip() for block in blocks(REPO / "README.md") for line in block.code.splitlines()]
    assert "make demo" in commands
    assert "make test" in commands
