"""Mutation testing of the pure modules: does the unit suite notice a small change of behaviour?

A small AST mutator, predictable and self-contained. One mutant changes one thing:
comparison operators (< <=, > >=, == !=, in / not in, is / is not), arithmetic (+ -, * //, ** *),
and/or, `not x` -> `x`, integer constants (+1), True/False, a statement-level call removed,
continue <-> break. Nothing inside a string or f-string, a docstring, a log call or the arguments
of a raised exception is mutated: those change messages, not behaviour.

Each mutant is compiled from the AST and placed in sys.modules of a forked child before the unit
tests that import the module (found by importing each tests/unit file) run with -x and a timeout.
The unit suite never runs this: it is `scripts/mutate [MODULE ...]`, results in
bench/results/mutation.json. Survivors judged equivalent (no behaviour can tell them apart) are
listed with the reason in scripts/mutation_equivalent.json and counted out of the score.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib.machinery import ModuleSpec
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "mutation.json"
EQUIVALENT = ROOT / "scripts" / "mutation_equivalent.json"

# The pure modules the score is kept for (globs, relative to the repository).
DEFAULT_MODULES = [
    "ledger/protocol.py",
    "core/terms.py",
    "client_sdk/torrent/market/*.py",
    "client_sdk/torrent/paid/window.py",
    "client_sdk/torrent/paid/payers.py",
    "client_sdk/torrent/paid/spending.py",
    "client_sdk/torrent/paid/shares.py",
    "bridge/decide.py",
]

COMPARE_SWAP: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
}
BINOP_SWAP: dict[type[ast.operator], type[ast.operator]] = {
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.Mult: ast.FloorDiv,
    ast.FloorDiv: ast.Mult,
    ast.Div: ast.Mult,
    ast.Pow: ast.Mult,
    ast.Mod: ast.FloorDiv,
}
LOG_NAMES = {"log", "logger", "logging", "_log", "LOG"}
LOG_METHODS = {"debug", "info", "warning", "error", "exception", "critical"}


@dataclass(frozen=True)
class Site:
    index: int  # position of the node in ast.walk order
    kind: str
    line: int
    text: str  # the source line, stripped: how an equivalent survivor is recognised

    @property
    def label(self) -> str:
        return f"{self.line}: {self.kind}"


def _is_log_call(node: ast.AST) -> bool:
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
        return False
    target = node.func.value
    name = target.id if isinstance(target, ast.Name) else getattr(target, "attr", "")
    return node.func.attr in LOG_METHODS and (name in LOG_NAMES or name.endswith("log"))


def _message_nodes(tree: ast.AST) -> set[int]:
    """ids of nodes that only shape a message: f-strings, log calls, raised exceptions' args."""
    skip: set[int] = set()

    def mark(root: ast.AST) -> None:
        skip.update(id(n) for n in ast.walk(root))

    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr) or _is_log_call(node):
            mark(node)
        elif isinstance(node, ast.Expr) and _is_log_call(node.value):
            mark(node)  # removing a log line changes no behaviour either
        elif isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
            for arg in [*node.exc.args, *(k.value for k in node.exc.keywords)]:
                mark(arg)
        elif isinstance(node, ast.Assert) and node.msg is not None:
            mark(node.msg)
    return skip


def _kinds(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Compare):
        return [f"cmp{i}" for i, op in enumerate(node.ops) if type(op) in COMPARE_SWAP]
    if isinstance(node, ast.BinOp) and type(node.op) in BINOP_SWAP:
        return ["binop"]
    if isinstance(node, ast.AugAssign) and type(node.op) in BINOP_SWAP:
        return ["augop"]
    if isinstance(node, ast.BoolOp):
        return ["boolop"]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return ["drop-not"]
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool):
            return ["bool"]
        if isinstance(node.value, int):
            return ["int+1"]
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
        return ["drop-call"]
    if isinstance(node, ast.Continue | ast.Break):
        return ["loop-exit"]
    return []


def _annotation_nodes(tree: ast.AST) -> set[int]:
    """Type annotations and decorators (dataclass flags): not behaviour the tests can pin."""
    found: set[int] = set()
    for node in ast.walk(tree):
        marks = [getattr(node, "annotation", None), getattr(node, "returns", None)]
        marks += getattr(node, "decorator_list", [])
        for ann in marks:
            if isinstance(ann, ast.AST):
                found.update(id(n) for n in ast.walk(ann))
    return found


def sites(source: str) -> list[Site]:
    tree = ast.parse(source)
    lines = source.splitlines()
    skip = _message_nodes(tree) | _annotation_nodes(tree)
    found = []
    for index, node in enumerate(ast.walk(tree)):
        if id(node) in skip:
            continue
        for kind in _kinds(node):
            line = getattr(node, "lineno", 0)
            text = lines[line - 1].strip() if line else ""
            found.append(Site(index, _describe(node, kind), line, text))
    return sorted(found, key=lambda s: (s.line, s.index))


def _describe(node: ast.AST, kind: str) -> str:
    if kind.startswith("cmp"):
        assert isinstance(node, ast.Compare)
        op = node.ops[int(kind[3:])]
        return f"{type(op).__name__} -> {COMPARE_SWAP[type(op)].__name__}#{kind[3:]}"
    if kind in ("binop", "augop"):
        op = node.op  # type: ignore[attr-defined]
        return f"{kind} {type(op).__name__} -> {BINOP_SWAP[type(op)].__name__}"
    if kind == "boolop":
        assert isinstance(node, ast.BoolOp)
        return "and -> or" if isinstance(node.op, ast.And) else "or -> and"
    if kind == "bool":
        return f"{node.value} -> {not node.value}"  # type: ignore[attr-defined]
    if kind == "int+1":
        return f"{node.value} -> {node.value + 1}"  # type: ignore[attr-defined]
    if kind == "loop-exit":
        return "continue -> break" if isinstance(node, ast.Continue) else "break -> continue"
    if kind == "drop-call":
        return "call removed"
    return kind


def mutate(source: str, site: Site) -> ast.Module:
    tree = ast.parse(source)
    node = next(n for i, n in enumerate(ast.walk(tree)) if i == site.index)
    kind = site.kind
    if isinstance(node, ast.Compare):
        pos = int(kind.rsplit("#", 1)[1])
        node.ops[pos] = COMPARE_SWAP[type(node.ops[pos])]()
    elif isinstance(node, ast.BinOp | ast.AugAssign):
        node.op = BINOP_SWAP[type(node.op)]()
    elif isinstance(node, ast.BoolOp):
        node.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
    elif isinstance(node, ast.UnaryOp):
        _replace(tree, node, node.operand)
    elif isinstance(node, ast.Constant):
        value = node.value
        assert isinstance(value, int)
        node.value = (not value) if isinstance(value, bool) else value + 1
    elif isinstance(node, ast.Expr):
        _replace(tree, node, ast.Pass())
    elif isinstance(node, ast.Continue):
        _replace(tree, node, ast.Break())
    elif isinstance(node, ast.Break):
        _replace(tree, node, ast.Continue())
    return ast.fix_missing_locations(tree)


def _replace(tree: ast.AST, old: ast.AST, new: ast.AST) -> None:
    ast.copy_location(new, old)
    for parent in ast.walk(tree):
        for field, value in ast.iter_fields(parent):
            if value is old:
                setattr(parent, field, new)
                return
            if isinstance(value, list) and any(v is old for v in value):
                setattr(parent, field, [new if v is old else v for v in value])
                return


def dotted(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _fork(body: Callable[[], int], timeout: float) -> tuple[str, float]:
    """Run body() in a forked child; its exit code 0 = 'survived', else 'killed'."""
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:  # child
        code = 1
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            code = body()
        except BaseException:
            code = 2
        os._exit(code)
    deadline = start + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            code = os.waitstatus_to_exitcode(status)
            return ("survived" if code == 0 else "killed"), time.monotonic() - start
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return "timeout", time.monotonic() - start
        time.sleep(0.02)


def imports_of(test_files: list[Path]) -> dict[Path, set[str]]:
    """The project modules each unit test file loads, directly or through what it imports."""
    import tempfile

    found: dict[Path, set[str]] = {}
    for test in test_files:
        with tempfile.NamedTemporaryFile("r", suffix=".txt") as listing:

            def probe(test: Path = test, out: str = listing.name) -> int:
                import importlib

                importlib.import_module(dotted(test))
                Path(out).write_text("\n".join(sys.modules))
                return 0

            outcome, _ = _fork(probe, 600)
            if outcome == "timeout":
                raise SystemExit(f"importing {test.name} timed out: the machine is too busy")
            if outcome != "survived":  # it fails on its own import: it covers nothing here
                print(f"cannot import {test.name}", file=sys.stderr)
            found[test] = set(listing.read().split())
    return found


def covering_tests(module: str, imports: dict[Path, set[str]]) -> list[Path]:
    stem = module.rsplit(".", 1)[-1]
    covering = [test for test, names in imports.items() if module in names]
    # The module's own tests first, property tests last: most mutants die in the first seconds.
    return sorted(covering, key=lambda p: (stem not in p.name, "propert" in p.name, p.name))


def run_tests(module: str, tree: ast.Module | None, path: Path, tests: list[Path]) -> int:
    import importlib.abc
    import importlib.util

    import pytest

    if tree is not None:
        code = compile(tree, str(path), "exec")

        class Loader(importlib.abc.Loader):
            def create_module(self, spec: ModuleSpec) -> None:
                return None

            def exec_module(self, mod: ModuleType) -> None:
                exec(code, mod.__dict__)

        class Finder(importlib.abc.MetaPathFinder):
            def find_spec(self, name: str, *_: object) -> ModuleSpec | None:
                if name != module:
                    return None
                return importlib.util.spec_from_file_location(name, path, loader=Loader())

        sys.meta_path.insert(0, Finder())
    # --noconftest: the unit tests use no shared fixture, and tests/conftest.py imports the server.
    args = ["-x", "-q", "-p", "no:cacheprovider", "--noconftest", *map(str, tests)]
    return int(pytest.main(args))


PROJECT = {"core", "ledger", "bridge", "client_sdk", "devnet", "tracker", "tests", "scripts"}


def preload(test_files: list[Path]) -> None:
    """Import once in the parent what the tests load from outside the project (third-party
    libraries and the generated stubs), so that each forked mutant starts fast. Project modules
    are never preloaded: they could hold the unmutated module."""
    import tempfile

    import hypothesis

    hypothesis.settings.register_profile(
        "mutate", database=None, deadline=None, max_examples=30, derandomize=True
    )
    hypothesis.settings.load_profile("mutate")
    # A property test's own settings are capped too: a surviving mutant costs the whole run.
    uncapped = hypothesis.settings.__init__

    def capped(self: hypothesis.settings, parent: object = None, **kw: Any) -> None:
        # (a state machine keeps its own: its test checks the walk reached every outcome)
        if isinstance(kw.get("max_examples"), int) and "stateful_step_count" not in kw:
            kw["max_examples"] = min(kw["max_examples"], 30)
        uncapped(self, parent, **kw)  # type: ignore[arg-type]

    hypothesis.settings.__init__ = capped  # type: ignore[method-assign]
    with tempfile.NamedTemporaryFile("r", suffix=".txt") as listing:

        def probe() -> int:
            import importlib

            import pytest

            for test in test_files:
                importlib.import_module(dotted(test))
            # collecting loads pytest's plugins too (hypothesis, asyncio, timeout)
            pytest.main(["--collect-only", "-q", "--noconftest", *map(str, test_files)])
            names = [n for n in sys.modules if n.split(".")[0] not in PROJECT]
            Path(listing.name).write_text("\n".join(names))
            return 0

        _fork(probe, 300)
        names = listing.read().split()
    import importlib

    for name in names:
        try:
            importlib.import_module(name)
        except Exception:  # a module that cannot be imported twice is simply skipped
            continue


def load_equivalent() -> dict[str, list[dict[str, str]]]:
    if EQUIVALENT.exists():
        return json.loads(EQUIVALENT.read_text())  # type: ignore[no-any-return]
    return {}


def preload_independent(module: str, wanted: set[str]) -> None:
    """Import the project modules the tests need that do not import `module`, so that each
    mutant's child imports only the target and what depends on it. The target is blocked while
    this runs; a module whose import reaches it is dropped again, with whatever it loaded."""
    import importlib
    import importlib.abc

    class Blocker(importlib.abc.MetaPathFinder):
        def find_spec(self, name: str, *_: object) -> None:
            if name == module:
                raise ImportError(f"{module} is the mutation target")
            return None

    blocker = Blocker()
    sys.meta_path.insert(0, blocker)
    try:
        for _ in range(3):  # a module dropped with a failing package may load on its own later
            for name in sorted(wanted, key=lambda n: n.count(".")):
                if name in sys.modules or name == module or name.startswith("tests."):
                    continue
                before = set(sys.modules)
                try:
                    importlib.import_module(name)
                except Exception:
                    for added in set(sys.modules) - before:
                        del sys.modules[added]
    finally:
        sys.meta_path.remove(blocker)
    assert module not in sys.modules


def mutate_module_isolated(
    path: Path, imports: dict[Path, set[str]], equivalent: list[dict[str, str]], sample: int = 0
) -> dict[str, Any]:
    """mutate_module in a forked child that first preloads what does not depend on the target."""
    import tempfile

    module = dotted(path)
    wanted = set().union(*(names for test, names in imports.items() if module in names))
    project = {n for n in wanted if n.split(".")[0] in PROJECT}
    with tempfile.NamedTemporaryFile("r", suffix=".json") as out:

        def body() -> int:
            os.dup2(saved_err, 2)
            preload_independent(module, project)
            result = mutate_module(path, imports, equivalent, sample)
            Path(out.name).write_text(json.dumps(result))
            return 0

        saved_err = os.dup(2)
        outcome, _ = _fork(body, 24 * 3600)
        os.close(saved_err)
        text = out.read()
    if outcome != "survived" or not text:
        return {"module": str(path.relative_to(ROOT)), "note": f"the run failed ({outcome})"}
    return json.loads(text)  # type: ignore[no-any-return]


def mutate_module(
    path: Path, imports: dict[Path, set[str]], equivalent: list[dict[str, str]], sample: int = 0
) -> dict[str, Any]:
    module = dotted(path)
    source = path.read_text()
    tests = covering_tests(module, imports)
    rel = str(path.relative_to(ROOT))
    result: dict[str, Any] = {"module": rel, "tests": [t.name for t in tests]}
    all_sites = sites(source)
    if sample and sample < len(all_sites):
        result["sampled_from"] = len(all_sites)
        step = len(all_sites) / sample
        all_sites = [all_sites[int(i * step)] for i in range(sample)]
    if not tests:
        result.update(mutants=len(all_sites), killed=0, score=0.0, note="no unit test imports it")
        return result
    outcome, base = _fork(lambda: run_tests(module, None, path, tests), 600)
    if outcome != "survived":
        result.update(note=f"the unmutated tests do not pass ({outcome})")
        return result
    timeout = base * 3 + 10
    killed = 0
    survivors: list[dict[str, Any]] = []
    judged: list[dict[str, Any]] = []
    known = {(e["text"], e["mutation"]) for e in equivalent}
    for site in all_sites:
        tree = mutate(source, site)

        def body(tree: ast.Module = tree) -> int:
            return run_tests(module, tree, path, tests)

        outcome, took = _fork(body, timeout)
        if outcome != "survived":
            killed += 1
        elif (site.text, site.kind) in known:
            judged.append({"line": site.line, "mutation": site.kind, "text": site.text})
        else:
            survivors.append({"line": site.line, "mutation": site.kind, "text": site.text})
        print(f"  {rel}:{site.label} {outcome} {took:.1f}s", file=sys.stderr, flush=True)
    counted = len(all_sites) - len(judged)
    reasons = {(e["text"], e["mutation"]): e.get("why", "") for e in equivalent}
    for entry in judged:
        entry["why"] = reasons[(entry["text"], entry["mutation"])]
    result.update(
        mutants=len(all_sites),
        killed=killed,
        equivalent=len(judged),
        score=round(100.0 * killed / counted, 1) if counted else 100.0,
        seconds_per_mutant=round(base, 2),
        survivors=survivors,
        equivalent_survivors=judged,
    )
    return result


def record(rel: str, result: dict[str, Any]) -> None:
    """Update one module's entry; runs over different modules may share the file."""
    import fcntl

    folder = os.open(RESULTS.parent, os.O_RDONLY)
    try:
        fcntl.flock(folder, fcntl.LOCK_EX)
        previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else {"modules": {}}
        previous["modules"][rel] = result
        RESULTS.write_text(json.dumps(previous, indent=2, sort_keys=True) + "\n")
    finally:
        os.close(folder)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", help="paths or globs (default: the pure modules)")
    parser.add_argument("--list", action="store_true", help="print the mutants, run nothing")
    parser.add_argument(
        "--sample", type=int, default=0, help="run only N mutants, evenly spread over the module"
    )
    parser.add_argument("--no-write", action="store_true", help=f"do not update {RESULTS.name}")
    args = parser.parse_args(argv)
    os.chdir(ROOT)
    sys.path.insert(0, str(ROOT))
    paths: list[Path] = []
    for pattern in args.modules or DEFAULT_MODULES:
        matched = sorted(ROOT.glob(pattern)) if not Path(pattern).is_absolute() else [Path(pattern)]
        if not matched:
            parser.error(f"no module matches {pattern}")
        paths += [p.resolve() for p in matched if p.name != "__init__.py" or len(matched) == 1]
    if args.list:
        for path in paths:
            for site in sites(path.read_text()):
                print(f"{path.relative_to(ROOT)}:{site.label}    {site.text}")
        return 0
    test_files = sorted((ROOT / "tests" / "unit").glob("test_*.py"))
    preload(test_files)
    imports = imports_of(test_files)
    equivalent = load_equivalent()
    for path in paths:
        rel = str(path.relative_to(ROOT))
        print(f"{rel}: {len(sites(path.read_text()))} mutants", file=sys.stderr, flush=True)
        result = mutate_module_isolated(path, imports, equivalent.get(rel, []), args.sample)
        print(
            f"{rel}: score {result.get('score')}% "
            f"({result.get('killed')}/{result.get('mutants')}, "
            f"{result.get('equivalent', 0)} equivalent, "
            f"{len(result.get('survivors', []))} survivors)",
            flush=True,
        )
        if not args.no_write:
            record(rel, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
