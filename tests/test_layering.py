"""The layering, counting every import: import-linter (`make lint`) follows the imports it can see,
and this walks the source with `ast`, imports inside functions included, so that a deferred
import cannot hide a cycle or a reach past a package's interface."""

import ast
from pathlib import Path

import senet_ablate

PACKAGE = Path(senet_ablate.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(path): path for path in PACKAGE.rglob("*.py")}


def _imports(module: str) -> set[str]:
    """Every module of ours that `module` imports, anywhere in its source: `from a.b import c`
    counts as a.b.c where c is a module, else as a.b."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base)
    return {name for name in found if name in MODULES and name != module}


def _cycle(modules: set[str]) -> list[str] | None:
    """One import cycle among `modules` (as the path round it), or None."""
    graph = {module: _imports(module) & modules for module in modules}
    done, path = set(), []

    def visit(module: str) -> list[str] | None:
        if module in path:
            return path[path.index(module) :] + [module]
        if module in done:
            return None
        path.append(module)
        for imported in sorted(graph[module]):
            if cycle := visit(imported):
                return cycle
        path.pop()
        done.add(module)
        return None

    for module in sorted(modules):
        if cycle := visit(module):
            return cycle
    return None


def test_the_walk_sees_imports_inside_functions():
    assert "senet_ablate.data.fingerprint" in _imports("senet_ablate.data.datasets")
    assert "senet_ablate.data.build" in _imports("senet_ablate.data")


def test_no_import_cycle_among_the_data_modules():
    """As there was: datasets -> fingerprint (deferred) -> imagefolder -> datasets (its facts)."""
    data = {module for module in MODULES if module.startswith("senet_ablate.data")}
    assert _cycle(data) is None


def test_no_import_cycle_in_the_package():
    assert _cycle(set(MODULES)) is None


def test_the_engine_sees_the_models_only_through_their_package():
    """Not a model family's file (nor the registry's): what the trainer needs of a model is the
    package's interface (`senet_ablate.models.global_batch`)."""
    reaching = {
        (module, imported)
        for module in MODULES
        if module.startswith("senet_ablate.engine")
        for imported in _imports(module)
        if imported.startswith("senet_ablate.models.")
    }
    assert reaching == set()
