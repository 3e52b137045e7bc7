"""The front page and the documentation site's sources say what a newcomer needs, and
the docstrings the API reference is generated from point at modules that exist.

The site itself is built by CI (``mkdocs build --strict``); these checks need no build.
"""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

from tests.helpers import ROOT
from tests.helpers.layout import package_modules

README = (ROOT / "README.md").read_text(encoding="utf-8")
DOCS = ROOT / "docs"
NOTEBOOKS = ROOT / "notebooks"


def _section(text: str, title: str) -> str:
    return text.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


# -- the front page -----------------------------------------------------------------------
def test_the_readme_is_a_front_page() -> None:
    assert len(README.splitlines()) <= 250


def test_two_commands_are_two() -> None:
    block = re.search(r"```bash\n(.*?)```", _section(README, "Two commands"), re.S)
    assert block is not None
    commands = [x for x in block[1].splitlines() if x.strip() and not x.startswith("#")]
    assert len(commands) == 2, commands
    demo, tests = commands
    assert demo.endswith("-m ohws_jupyter demo") and tests == "bash .ci/run"


def test_how_to_stop_the_demo_comes_right_after_the_commands() -> None:
    assert "Ctrl-C" in _section(README, "Two commands")


def test_the_first_install_line_works_where_the_package_is_not_on_an_index() -> None:
    first = next(x for x in README.splitlines() if x.lstrip().startswith("pip install"))
    target = first.split("#")[0].split()[-1].strip("'\"")
    # A checkout ('.', '.[extra]') or a wheel file, never a bare name looked up on an index.
    assert target.startswith(".") or target.endswith(".whl"), first


def test_readme_links_to_files_that_exist() -> None:
    for target in re.findall(r"\]\(([^)#]+)\)", README):
        if "://" not in target:
            assert (ROOT / target).exists(), target


def test_no_issue_numbers_in_user_docs() -> None:
    pages = [ROOT / "README.md", *DOCS.glob("*.md"), *NOTEBOOKS.glob("*.ipynb")]
    for page in pages:
        found = re.findall(r"\bissues? #?\d+", page.read_text(encoding="utf-8"), re.I)
        assert found == [], (page.name, found)


def test_benchmark_figures_are_included_from_latest_not_copied() -> None:
    page = (DOCS / "benchmarks.md").read_text(encoding="utf-8")
    assert '--8<-- "benchmarks/LATEST.md' in page
    # No table row of measurements written by hand, in the page or on the front page
    # (whose one block of figures `python -m benchmarks` writes from LATEST.md).
    generated = re.compile(r"<!-- figures: made by .*?<!-- end of figures -->", re.S)
    for text in (page, generated.sub("", README)):
        assert not re.search(r"^\|.*\d[\d,.]*× \[", text, re.M)


# -- the site's sources -------------------------------------------------------------------
def test_every_lesson_is_in_the_site_navigation() -> None:
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    for notebook in sorted(NOTEBOOKS.glob("*.ipynb")):
        assert f"lessons/{notebook.name}" in nav, notebook.name
    assert (DOCS / "lessons").resolve() == NOTEBOOKS.resolve()  # one copy: a link


def test_every_module_has_a_reference_entry() -> None:
    documented = set()
    for page in (DOCS / "reference").glob("*.md"):
        documented |= set(re.findall(r"^::: (\S+)", page.read_text(encoding="utf-8"), re.M))
    assert sorted(set(package_modules()) - documented) == []


# -- cross-references in docstrings ---------------------------------------------------------
def _docstrings(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            doc = ast.get_docstring(node, clean=False)
            if doc:
                found.append((getattr(node, "lineno", 1), doc))
    return found


def _resolves(reference: str) -> bool:
    parts = reference.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            target = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for name in parts[cut:]:
                target = getattr(target, name)
        except AttributeError:
            return False
        return True
    return False


@pytest.mark.parametrize(
    "path",
    sorted((ROOT / "ohws_jupyter").rglob("*.py")),
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_docstring_references_name_modules_that_exist(path: Path) -> None:
    stale = [
        f"line {line}: {ref}"
        for line, doc in _docstrings(path)
        for ref in re.findall(r"(?<![\w/.])ohws_jupyter(?:\.\w+)+", doc)
        if not _resolves(ref)
    ]
    assert stale == []
