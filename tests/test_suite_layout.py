"""The test suite's own layout: every test module stands alone, and what
modules share lives in tests/support/ (which `bench/` may use too), so a
test module can be read, moved or deleted without breaking another."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.support.paths import ROOT

TESTS = ROOT / "tests"


def imported_modules(path: Path) -> set[str]:
    """Every module `path` imports, at any depth (imports inside functions count)."""
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.add("." * node.level + node.module)
            modules.update(f"{node.module}.{alias.name}" for alias in node.names)
    return modules


def reaches_into_tests_outside_support(module: str) -> bool:
    parts = module.lstrip(".").split(".")
    if module.startswith("."):
        return parts[0].startswith("test_") or parts[0] == "conftest"
    return parts[0] == "tests" and len(parts) > 1 and parts[1] != "support"


def offenders(paths: list[Path]) -> dict[str, list[str]]:
    found = {}
    for path in paths:
        bad = sorted(module for module in imported_modules(path) if reaches_into_tests_outside_support(module))
        if bad:
            found[str(path.relative_to(ROOT))] = bad
    return found


def test_no_test_module_imports_another_test_module_or_conftest() -> None:
    assert offenders(sorted(TESTS.glob("test_*.py"))) == {}


def test_the_support_package_imports_no_test_module() -> None:
    assert offenders(sorted((TESTS / "support").glob("*.py"))) == {}


def test_benchmarks_use_only_the_support_package_from_tests() -> None:
    assert offenders(sorted((ROOT / "bench").glob("*.py"))) == {}


def test_the_layout_check_sees_a_test_module_import() -> None:
    """The check itself: each way of importing a test module is caught."""
    for module in ("tests.test_chat_api", "tests.conftest", ".test_chat_api", "tests.pg_cluster"):
        assert reaches_into_tests_outside_support(module), module
    for module in ("tests.support.api", "tests.support", "tests", "chatapp.db", "pytest"):
        assert not reaches_into_tests_outside_support(module), module
