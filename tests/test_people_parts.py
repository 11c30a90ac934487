"""The people store's shape (docs/architecture.md, "The people store"): composed parts, no private calls across them.

A part that reaches into another's private method, or inherits another part, brings back
the tangle the composition removed; these checks fail on either.
"""

from __future__ import annotations

import ast
from dataclasses import fields
from pathlib import Path

import facectl.store.people as people_pkg
from facectl.store import Store

PACKAGE = Path(people_pkg.__file__).parent


def _modules() -> list[tuple[str, ast.Module]]:
    return [(p.name, ast.parse(p.read_text(encoding="utf-8"))) for p in sorted(PACKAGE.glob("*.py"))]


def test_no_private_attribute_of_another_object() -> None:
    """Only `self._x` is allowed: `self.wants._x`, `other._x` or `ctx._x` is a private call across parts."""
    found = []
    for name, tree in _modules():
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                    and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))):
                found.append(f"{name}:{node.lineno} {ast.unparse(node)}")
    assert found == []


def test_parts_are_composed_not_inherited() -> None:
    """Every part is a plain class: what it needs comes in through its constructor."""
    parts = {str(f.type) for f in fields(people_pkg.Parts)}
    assert len(parts) == 12
    for _, tree in _modules():
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and node.name in parts:
                assert node.bases == [], f"{node.name} inherits {[ast.unparse(b) for b in node.bases]}"


def test_knobs_set_on_the_facade_reach_the_parts(tmp_path: Path) -> None:
    """`facectl serve` and the tests set the knobs on `store.people`; every part reads them from its one context."""
    store = Store(str(tmp_path / "facectl.db"))
    store.people.redelivery_timeout, store.people.retry_limit, store.people.retry_delay = 5.0, 3, 7.0
    ctx = store.people.ctx
    assert (ctx.redelivery_timeout, ctx.retry_limit, ctx.retry_delay) == (5.0, 3, 7.0)
    for f in fields(store.people.parts):
        part = getattr(store.people.parts, f.name)
        assert getattr(part, "ctx", ctx) is ctx, f.name
