"""The layout by role holds: imports go one way, and core/ does no I/O.

Read from the source with ``ast`` (nothing is imported), so a violation names the file and
the import that breaks the rule.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "orchestrator"

# Each folder may import its own modules and those of the folders after it, never before.
LAYERS = (
    "commands",
    "service",
    "pipeline",
    "intake",
    "media",
    "speechkit",
    "auth",
    "storage",
    "store",
    "outputs",
    "config",
    "telemetry",
    "core",
)
# The emulator stands apart: it imports nothing of the daemon but core's constants.
EMULATOR_MAY_IMPORT = ("orchestrator.core.constants", "orchestrator.emulator")
# What a pure module may not touch: the network, files, processes, the clock.
IO_MODULES = (
    "aiohttp",
    "aioboto3",
    "aiobotocore",
    "botocore",
    "aiosqlite",
    "sqlite3",
    "asyncpg",
    "asyncio",
    "socket",
    "os",
    "pathlib",
    "shutil",
    "tempfile",
    "subprocess",
    "time",
    "io",
    "fcntl",
    "mutagen",
    "structlog",
    "logging",
)
# Names of `pathlib`/`os` a pure module might still want; none are allowed today.
ALLOWED_IO_NAMES: dict[str, set[str]] = {"pathlib": {"PurePosixPath"}}


def imports(path: Path) -> Iterator[tuple[int, str, list[str]]]:
    """(line, module, names) of every import in a file, at any depth."""
    tree = ast.parse(path.read_text("utf-8"), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, []
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [alias.name for alias in node.names]
            if node.module == "orchestrator":
                for name in names:
                    yield node.lineno, f"orchestrator.{name}", []
            else:
                yield node.lineno, node.module, names


def folder_of(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def sources(folder: str | None = None) -> list[Path]:
    root = PACKAGE / folder if folder else PACKAGE
    return sorted(root.rglob("*.py"))


def test_every_folder_is_a_known_layer() -> None:
    folders = {folder_of(p) for p in sources()} - {"__init__", "__main__", "cli", "emulator"}
    assert folders == set(LAYERS)


@pytest.mark.parametrize("layer", LAYERS)
def test_imports_go_down_the_layers(layer: str) -> None:
    allowed = set(LAYERS[LAYERS.index(layer) :])
    wrong = []
    for path in sources(layer):
        for line, module, _names in imports(path):
            parts = module.split(".")
            if parts[0] != "orchestrator" or len(parts) < 2:
                continue
            target = parts[1]
            if target not in allowed and target != "__version__":
                wrong.append(f"{path.relative_to(PACKAGE)}:{line}: imports {module}")
    assert not wrong, "\n".join(wrong)


# The media layer is FFmpeg's work alone: nothing of jobs, stores, configs or APIs.
MEDIA_MAY_IMPORT = ("orchestrator.media", "orchestrator.core", "orchestrator.telemetry")


def test_the_media_layer_imports_only_core_and_telemetry() -> None:
    wrong = [
        f"{path.relative_to(PACKAGE)}:{line}: imports {module}"
        for path in sources("media")
        for line, module, _ in imports(path)
        if module.startswith("orchestrator") and not module.startswith(MEDIA_MAY_IMPORT)
    ]
    assert not wrong, "\n".join(wrong)


def test_the_emulator_imports_only_constants() -> None:
    wrong = [
        f"{path.relative_to(PACKAGE)}:{line}: imports {name}"
        for path in sources("emulator")
        for line, module, names in imports(path)
        for name in ([f"{module}.{n}" for n in names] if names else [module])
        if name.startswith("orchestrator") and not name.startswith(EMULATOR_MAY_IMPORT)
    ]
    assert not wrong, "\n".join(wrong)


def test_nothing_but_the_cli_imports_the_emulator() -> None:
    wrong = [
        f"{path.relative_to(PACKAGE)}:{line}: imports {module}"
        for path in sources()
        if folder_of(path) not in ("emulator", "cli", "commands")
        for line, module, _ in imports(path)
        if module.startswith("orchestrator.emulator")
    ]
    assert not wrong, "\n".join(wrong)


# Object storage is reached through its interface; which one is built, only the factory knows.
STORAGE_SEAM = ("orchestrator.storage.protocol", "orchestrator.storage.factory")


def test_object_storage_is_reached_through_its_interface() -> None:
    wrong = [
        f"{path.relative_to(PACKAGE)}:{line}: imports {module}"
        for path in sources()
        if folder_of(path) != "storage"
        for line, module, _ in imports(path)
        if module.startswith("orchestrator.storage") and module not in STORAGE_SEAM
    ]
    assert not wrong, "\n".join(wrong)


def test_core_does_no_io() -> None:
    wrong = []
    for path in sources("core"):
        for line, module, names in imports(path):
            top = module.split(".")[0]
            if top not in IO_MODULES:
                continue
            if names and set(names) <= ALLOWED_IO_NAMES.get(top, set()):
                continue
            wrong.append(f"{path.relative_to(PACKAGE)}:{line}: imports {module} {names or ''}")
    assert not wrong, "\n".join(wrong)


def test_core_calls_no_builtin_io() -> None:
    # open() and input() need no import: look for the calls themselves.
    wrong = []
    for path in sources("core"):
        tree = ast.parse(path.read_text("utf-8"))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in ("open", "input", "print", "exec", "eval")
            ):
                wrong.append(f"{path.relative_to(PACKAGE)}:{node.lineno}: {node.func.id}()")
    assert not wrong, "\n".join(wrong)


def test_no_module_imports_itself_in_a_circle() -> None:
    graph: dict[str, set[str]] = {}
    for path in sources():
        rel = path.relative_to(PACKAGE).with_suffix("")
        name = ".".join(("orchestrator", *rel.parts)).removesuffix(".__init__")
        graph[name] = {m for _, m, _ in imports(path) if m.startswith("orchestrator.")}
    known = set(graph)

    def resolve(module: str) -> str | None:
        while module and module not in known:
            module = module.rpartition(".")[0]
        return module or None

    edges = {
        node: {t for m in deps if (t := resolve(m)) and t != node} for node, deps in graph.items()
    }
    # Package faces (__init__) re-export their modules: an edge into a package is fine
    # when the cycle only passes through its own face.
    state: dict[str, int] = {}
    cycle: list[str] = []

    def visit(node: str, trail: list[str]) -> bool:
        state[node] = 1
        for nxt in sorted(edges.get(node, ())):
            if nxt.startswith(node + ".") or node.startswith(nxt + "."):
                continue
            if state.get(nxt) == 1:
                cycle.extend([*trail, node, nxt])
                return True
            if state.get(nxt) is None and visit(nxt, [*trail, node]):
                return True
        state[node] = 2
        return False

    for node in sorted(edges):
        if state.get(node) is None and visit(node, []):
            break
    assert not cycle, " -> ".join(cycle)
