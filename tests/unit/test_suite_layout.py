"""The suite's own layout: every test file sits in a tier, in a package."""

from __future__ import annotations

from tests.helpers import ROOT

TESTS = ROOT / "tests"
TIERS = ("unit", "integration", "jupyter")


def test_every_test_file_is_in_a_tier() -> None:
    outside = [
        str(path.relative_to(TESTS))
        for path in TESTS.rglob("test_*.py")
        if path.relative_to(TESTS).parts[0] not in TIERS and "node_modules" not in path.parts
    ]
    assert outside == [], (
        f"move these into tests/unit, tests/integration or tests/jupyter: {outside}"
    )


def test_every_folder_of_tests_is_a_package() -> None:
    # Without __init__.py, two test files of the same name in different folders clash.
    folders = {path.parent for path in TESTS.rglob("*.py") if "node_modules" not in path.parts}
    missing = sorted(str(f.relative_to(ROOT)) for f in folders if not (f / "__init__.py").exists())
    assert missing == [], f"add an __init__.py to: {missing}"
