"""The package's imports point one way: no module reaches, however lazily, back up to itself."""

import ast
from pathlib import Path

import handwriter

PACKAGE = Path(handwriter.__file__).parent


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Module -> the package's modules it imports anywhere in its file (in functions, under
    TYPE_CHECKING): a lazy import is still a dependency."""
    files = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = package.split(".")[:len(package.split(".")) - node.level + 1] \
                    if node.level else []
                source = ".".join(base + ([node.module] if node.module else []))
                for alias in node.names:  # `from . import plots` imports the module plots
                    submodule = f"{source}.{alias.name}"
                    targets.add(submodule if submodule in files else source)
        graph[name] = {t for t in targets if t in files and t != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle as a list of modules (first == last), or [] if there is none."""
    done, path = set(), []

    def visit(module: str) -> list[str]:
        if module in path:
            return path[path.index(module):] + [module]
        if module in done:
            return []
        path.append(module)
        for target in sorted(graph[module]):
            cycle = visit(target)
            if cycle:
                return cycle
        path.pop()
        done.add(module)
        return []

    for module in sorted(graph):
        cycle = visit(module)
        if cycle:
            return cycle
    return []


def test_the_package_has_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert not cycle, "import cycle: " + " -> ".join(cycle)


def test_a_cycle_is_found_when_there_is_one():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) == []


def test_the_graph_sees_lazy_and_relative_imports():
    graph = import_graph()
    assert "handwriter.unprompted" in graph["handwriter.cli"]  # imported inside cmd_sample
    assert "handwriter.plots" in graph["handwriter.cli"]       # `from . import plots`
    assert "handwriter.ink.core" in graph["handwriter.ink.iamondb"]
    assert "handwriter.studio" in graph["handwriter.studio.app"]  # `from . import StudioConfig`


def test_the_sampler_knows_nothing_of_text_styles_or_pages():
    graph = import_graph()
    above = {"handwriter.text_model", "handwriter.unprompted", "handwriter.writing",
             "handwriter.styles", "handwriter.layout", "handwriter.reader"}

    def reach(module: str, seen: set[str]) -> set[str]:
        for target in graph[module] - seen:
            seen.add(target)
            reach(target, seen)
        return seen

    assert not reach("handwriter.sample", set()) & above


def readme_layout() -> list[str]:
    """The package paths the README's Layout section lists, in order."""
    readme = (PACKAGE.parent / "README.md").read_text()
    block = readme.split("## Layout", 1)[1].split("```", 2)[1]
    return [line.split()[0] for line in block.splitlines() if line.startswith("handwriter/")]


def test_the_readme_lists_every_module_each_below_what_it_imports():
    listed = readme_layout()
    files = {p.name for p in PACKAGE.iterdir()
             if p.suffix == ".py" and p.name != "__init__.py"
             or p.is_dir() and ((p / "__init__.py").exists() or p.name == "models")}
    assert sorted(name.removeprefix("handwriter/").rstrip("/") for name in listed) == \
        sorted(files)
    rank = {"handwriter." + path.removeprefix("handwriter/").rstrip("/").removesuffix(".py"): i
            for i, path in enumerate(listed)}

    def rank_of(module: str) -> int:
        return rank[".".join(module.split(".")[:2])]

    upward = [(a, b) for a, targets in import_graph().items() if a != "handwriter"
              for b in targets if b != "handwriter" and rank_of(b) > rank_of(a)]
    assert not upward, f"imports of a module listed below: {upward}"


def test_openmp_spins_briefly_and_is_told_before_torch_loads():
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "GOMP_SPINCOUNT"}
    run = subprocess.run([sys.executable, "-X", "importtime", "-c", "import os, handwriter; "
                          "print(os.environ['GOMP_SPINCOUNT'])"],
                         env=env, capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "10000"
    loaded = [line.rsplit("|", 1)[-1].strip() for line in run.stderr.splitlines()]
    assert loaded.index("handwriter._openmp") < loaded.index("torch")
    kept = subprocess.run([sys.executable, "-c", "import os, handwriter; "
                           "print(os.environ['GOMP_SPINCOUNT'])"],
                          env={**env, "GOMP_SPINCOUNT": "5"}, capture_output=True, text=True,
                          check=True)
    assert kept.stdout.strip() == "5"  # the user's own setting is kept
