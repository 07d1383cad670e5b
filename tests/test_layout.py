"""The package layout of docs/design.md, held: the layers' import direction, module and function sizes."""
from __future__ import annotations

import ast
import functools
from tests.conftest import ROOT

PACKAGE = ROOT / "yolo_exp"
# bottom to top (docs/design.md, "Layers"): a module imports from its own layer or below
LAYERS = ["ops", "files", "parallel", "config", "metrics", "data", "models", "loss", "report", "engine", "predict",
          "sweep", "build", "deploy", "commands", "bench", "entry"]
RANK = {name: i for i, name in enumerate(LAYERS)}
UPWARD = {  # the imports that go up on purpose (docs/design.md says why)
    ("files/owner", "config.validate"), ("parallel/launch", "config.validate"), ("parallel/launch", "config.quoting"),
    ("config/resume", "report.summary"), ("config/resume", "report.run_reader"),
}


@functools.lru_cache(maxsize=1)
def _modules() -> list[tuple[str, ast.Module, int]]:
    return [(str(p.relative_to(PACKAGE).with_suffix("")), ast.parse(p.read_text()), len(p.read_text().splitlines()))
            for p in sorted(PACKAGE.rglob("*.py")) if "conf" not in p.relative_to(PACKAGE).parts]


def _imports(tree: ast.Module) -> set[str]:
    """The yolo_exp modules a module imports, as 'package.module' (lazy imports inside functions too)."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "yolo_exp":
            parts = node.module.split(".")[1:]
            out |= {f"{'.'.join(parts)}.{a.name}" if parts else a.name for a in node.names}
    return out


def test_every_package_is_a_layer_and_the_root_is_only_wiring():
    top = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir() if p.name not in ("__pycache__", "conf")}
    assert top - {"__init__"} == set(LAYERS)
    assert {p.name for p in PACKAGE.glob("*.py")} == {"__init__.py", "build.py", "entry.py"}


def test_imports_point_down_the_layers():
    upward = []
    for name, tree, _ in _modules():
        here = RANK.get(name.split("/")[0])
        for target in _imports(tree):
            layer = target.split(".")[0]
            if layer in RANK and RANK[layer] > here and (name, ".".join(target.split(".")[:2])) not in UPWARD:
                upward.append(f"{name} imports {target}")
    assert not upward


def test_modules_under_300_lines_functions_under_60():
    too_long = []
    for path in [*PACKAGE.rglob("*.py"), *(ROOT / "hydra_plugins").rglob("*.py")]:
        text = path.read_text()
        if len(text.splitlines()) >= 300:
            too_long.append(f"{path.relative_to(ROOT)}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno >= 60:
                too_long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}: "
                                f"{node.end_lineno - node.lineno + 1} lines")
    assert not too_long
