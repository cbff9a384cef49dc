"""The layer builder's pruning rule: only what something outside imports is kept, judged on a site
written here (real files, parsed by the real scan)."""

from __future__ import annotations

from pathlib import Path

from honeyhive_serverless_dev.unimported import unimported_modules

SITE = {
    "app.py": "from lib.used import thing\nimport lib.chain\n",
    "lib/__init__.py": "",
    "lib/used.py": "thing = 1\n",
    "lib/chain.py": "from . import link\n",  # kept: app imports it, and it imports link
    "lib/link.py": "from .sub.deep import x\n",
    "lib/sub/__init__.py": "",
    "lib/sub/deep.py": "x = 1\n",
    "lib/unused.py": "import lib.also_unused\n",  # its import does not count: nothing imports it
    "lib/also_unused.py": "",
    "lonely/__init__.py": "from .inner import y\n",
    "lonely/inner.py": "y = 1\n",
    "other.py": "'''mentions lonely.inner in a docstring only'''\n",
}


def _site(tmp_path: Path) -> Path:
    for name, text in SITE.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_only_what_is_imported_from_outside_is_kept(tmp_path: Path) -> None:
    site = _site(tmp_path)
    pruned = {str(path.relative_to(site)) for path in unimported_modules(site, ["lib", "lonely"])}
    assert pruned == {"lib/unused.py", "lib/also_unused.py", "lonely/__init__.py", "lonely/inner.py"}


def test_a_named_module_and_a_missing_name(tmp_path: Path) -> None:
    site = _site(tmp_path)
    assert [p.name for p in unimported_modules(site, ["other", "not.there"])] == ["other.py"]
