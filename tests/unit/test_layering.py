"""The import graph is the architecture: the SDK and the bridge never import the server.

Allowed: core <- ledger, client_sdk, tracker <- devnet, and client_sdk <- bridge <- devnet (the
bridge is a ledger client: it uses the SDK's ledger and Treasury clients), and btt/, the generated
stubs, anywhere. The tracker is a server of its own: the SDK talks to it over HTTP only.
Read from the source with ast, so that a lazy import inside a function counts too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

FORBIDDEN: dict[str, set[str]] = {
    "core": {"ledger", "bridge", "client_sdk", "devnet", "tracker"},
    "client_sdk": {"ledger", "bridge", "devnet", "tracker"},
    "bridge": {"ledger", "devnet", "tracker"},  # a ledger client: it uses the SDK's clients
    "ledger": {"bridge", "client_sdk", "devnet", "tracker"},
    "tracker": {"ledger", "bridge", "client_sdk", "devnet"},
}


def imported_packages(path: Path) -> set[tuple[int, str]]:
    found: set[tuple[int, str]] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add((node.lineno, node.module))
    return found


def violations(package: str) -> list[str]:
    bad = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for line, module in imported_packages(path):
            if module.split(".")[0] in FORBIDDEN[package]:
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    return bad


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_only_what_its_layer_allows(package: str) -> None:
    assert (ROOT / package / "__init__.py").exists()
    assert violations(package) == []


def test_the_check_sees_a_forbidden_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from ledger.rpc.errors import STATUS_OF\n")
    assert (2, "ledger.rpc.errors") in imported_packages(module)
