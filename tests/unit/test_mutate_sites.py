"""scripts/mutate's choice of mutants: behaviour is mutated, messages are not."""

from __future__ import annotations

import ast

from scripts.mutate import mutate, sites

SOURCE = '''
import logging
log = logging.getLogger(__name__)

def f(a: int, b: int, items: list[int]) -> int:
    """A docstring 1 < 2."""
    if a < b and not items:
        log.info("a %d < %d", a + 1, b)
        raise ValueError(f"bad {a + 1}", a - 1)
    for x in items:
        if x == 0:
            continue
        record(x)
    return a + 2
'''


def kinds() -> list[tuple[int, str]]:
    return [(s.line, s.kind) for s in sites(SOURCE)]


def test_behaviour_is_mutated() -> None:
    found = kinds()
    assert (7, "Lt -> LtE#0") in found
    assert (7, "and -> or") in found
    assert (7, "drop-not") in found
    assert (11, "Eq -> NotEq#0") in found
    assert (11, "0 -> 1") in found
    assert (12, "continue -> break") in found
    assert (13, "call removed") in found
    assert (14, "binop Add -> Sub") in found
    assert (14, "2 -> 3") in found


def test_messages_logs_and_annotations_are_not() -> None:
    lines = {line for line, _ in kinds()}
    assert not lines & {2, 3, 5, 6, 8, 9}


def test_each_mutant_changes_one_thing() -> None:
    for site in sites(SOURCE):
        mutant = ast.unparse(mutate(SOURCE, site))
        assert mutant != ast.unparse(ast.parse(SOURCE))
    by_kind = {s.kind: s for s in sites(SOURCE)}
    loop = ast.unparse(mutate(SOURCE, by_kind["continue -> break"]))
    assert "break" in loop and "continue" not in loop
    ret = ast.unparse(mutate(SOURCE, by_kind["2 -> 3"]))
    assert "return a + 3" in ret
