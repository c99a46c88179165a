"""The package's layers, read from its imports: a module imports only from
its own layer or the ones below, and the web UI reaches the database only
through services. The README's "Architecture" section draws the same picture.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "chatapp"

# Lowest first. Each entry is a module or a package (all it holds).
LAYERS: list[tuple[str, ...]] = [
    ("chatapp.config", "chatapp.logs"),
    ("chatapp.db",),
    ("chatapp.agent",),
    # Metrics count turns and error codes: they sit with the services they count.
    ("chatapp.services", "chatapp.metrics"),
    # The surfaces: each forwards to the services, none to another.
    ("chatapp.tools", "chatapp.chatkit", "chatapp.ui", "chatapp.shutdown"),
    # The REST API mounts the MCP tools and ChatKit.
    ("chatapp.api",),
    # Entry points: they build the parts and start the servers.
    ("chatapp.chatapp", "chatapp.serve"),
]
SURFACES = LAYERS[4]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def unit_of(module: str) -> str | None:
    """The layer entry a module belongs to (None for the package root)."""
    for layer in LAYERS:
        for unit in layer:
            if module == unit or module.startswith(unit + "."):
                return unit
    return None


def layer_of(unit: str) -> int:
    return next(index for index, layer in enumerate(LAYERS) if unit in layer)


def imported_modules(path: Path) -> set[str]:
    """Every chatapp module `path` imports, at the top or inside a function;
    `from chatapp import metrics` counts as `chatapp.metrics`."""
    module = module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {name for name in found if unit_of(name) is not None}


def all_imports() -> list[tuple[str, str]]:
    return [(module_name(path), imported) for path in sorted(PACKAGE.rglob("*.py")) for imported in imported_modules(path)]


def test_every_module_belongs_to_a_layer() -> None:
    unplaced = [module_name(path) for path in PACKAGE.rglob("*.py")
                if module_name(path) != "chatapp" and unit_of(module_name(path)) is None]
    assert unplaced == []


def test_no_module_imports_from_a_layer_above_its_own() -> None:
    upward = [
        f"{module} imports {imported}"
        for module, imported in all_imports()
        if (unit := unit_of(module)) and (target := unit_of(imported)) and layer_of(target) > layer_of(unit)
    ]
    assert upward == []


def test_no_surface_imports_another_surface() -> None:
    across = [
        f"{module} imports {imported}"
        for module, imported in all_imports()
        if (unit := unit_of(module)) in SURFACES and (target := unit_of(imported)) in SURFACES and target != unit
    ]
    assert across == []


def test_the_web_ui_never_imports_the_database_layer() -> None:
    reaching = [
        f"{module} imports {imported}"
        for module, imported in all_imports()
        if unit_of(module) == "chatapp.ui" and unit_of(imported) == "chatapp.db"
    ]
    assert reaching == []


def test_imports_of_a_module_by_its_package_are_seen() -> None:
    """`from chatapp import metrics` is an import of chatapp.metrics: the
    rules above would miss it otherwise."""
    assert "chatapp.metrics" in imported_modules(PACKAGE / "services" / "turns.py")
