"""The committed modules under btt/ are exactly what scripts/gen_proto.py makes from proto/."""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROTO_DIR = ROOT / "proto"
SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")


def _load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "gen_proto_under_test", ROOT / "scripts" / "gen_proto.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("generated")
    generate: Callable[[Path], None] = _load_generator().generate
    generate(out)
    return out


def _protos() -> list[Path]:
    return sorted(PROTO_DIR.rglob("*.proto"))


def _files(base: Path) -> list[Path]:
    return sorted(p.relative_to(base) for p in base.rglob("*") if p.is_file())


def test_there_are_protos() -> None:
    assert (PROTO_DIR / "btt" / "ledger" / "v1" / "ledger.proto") in _protos()


def test_generated_code_is_not_stale(generated: Path) -> None:
    files = _files(generated)
    assert any(str(f).endswith("_pb2.py") for f in files)
    stale = [
        str(rel)
        for rel in files
        if not (ROOT / rel).is_file() or (ROOT / rel).read_bytes() != (generated / rel).read_bytes()
    ]
    assert not stale, f"regenerate with `python scripts/gen_proto.py`: {stale}"


@pytest.mark.parametrize("proto", _protos(), ids=lambda p: str(p.relative_to(PROTO_DIR)))
def test_every_proto_has_its_modules(proto: Path, generated: Path) -> None:
    rel = proto.relative_to(PROTO_DIR)
    stem = rel.with_suffix("")
    for suffix in SUFFIXES:
        name = f"{stem}{suffix}"
        assert (generated / name).is_file(), name
        assert (ROOT / name).is_file(), name
    package = ".".join(rel.parent.parts)
    for parent in [rel.parent, *rel.parent.parents][:-1]:
        assert (ROOT / parent / "__init__.py").is_file(), parent
    module = importlib.import_module(f"{package}.{rel.stem}_pb2")
    assert module.DESCRIPTOR.name == str(rel)


def test_no_generated_module_without_its_proto() -> None:
    protos = {p.relative_to(PROTO_DIR).with_suffix("") for p in _protos()}
    orphans = []
    for path in sorted((ROOT / "btt").rglob("*_pb2*")):
        rel = path.relative_to(ROOT)
        if rel.suffix not in (".py", ".pyi"):
            continue
        stem = Path(str(rel.with_suffix("")).removesuffix("_grpc").removesuffix("_pb2"))
        if stem not in protos:
            orphans.append(str(rel))
    assert not orphans
