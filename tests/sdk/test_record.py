"""``sdk._record.record`` behaves as ``dataclasses.dataclass`` with the same options: every case is run on a record
and on a real dataclass of the same fields, and the two must agree (values, errors, repr, equality, hashing,
freezing, ``dataclasses`` helpers). Then: no class in ``sdk`` or ``functions`` is a plain dataclass any more, and a
record's class compiles nothing when it is created (the reason it exists)."""

from __future__ import annotations

import ast
import copy
import dataclasses
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sdk._record import record

ROOT = Path(__file__).resolve().parents[2]


def factory() -> list[int]:
    return [1]


def make(decorator: Callable[..., Any], **options: Any) -> dict[str, type]:
    """The same small family of classes under ``decorator`` (``record`` or ``dataclasses.dataclass``)."""

    def deco(**extra: Any) -> Any:
        merged = options | extra
        if decorator is dataclasses.dataclass:
            merged.setdefault("frozen", True)
        return decorator(**merged)

    @deco()
    class Plain:
        """A plain value."""

        a: int
        b: str = "x"
        c: list[int] = dataclasses.field(default_factory=factory)
        d: float = dataclasses.field(default=0.5, repr=False, compare=False)
        e: int = dataclasses.field(default=0, init=False)
        f: int = dataclasses.field(default=3, hash=False)

    @deco(kw_only=True)
    class KwOnly:
        """Keyword only."""

        name: str
        size: int = 1
        tags: tuple[str, ...] = ()

    @deco()
    class Mixed:
        """Some keyword-only fields."""

        a: int
        b: int = dataclasses.field(default=2, kw_only=True)
        c: int = dataclasses.field(kw_only=True, default_factory=lambda: 7)

    @deco()
    class Checked:
        """Checks itself."""

        n: int

        def __post_init__(self) -> None:
            if self.n < 0:
                raise ValueError(f"n must be >= 0, got {self.n}")

    @deco()
    class Own:
        """Defines its own repr and eq."""

        a: int

        def __repr__(self) -> str:
            return f"<own {self.a}>"

        def __eq__(self, other: object) -> bool:
            return isinstance(other, Own) and other.a % 10 == self.a % 10

        __hash__ = None  # type: ignore[assignment]

    @deco()
    class Base:
        """A base."""

        a: int
        b: int = 2

    @deco()
    class Child(Base):
        """Adds a field."""

        c: int = 3

    return {"Plain": Plain, "KwOnly": KwOnly, "Mixed": Mixed, "Checked": Checked, "Own": Own, "Child": Child}


FROZEN = {"record": make(record), "dataclass": make(dataclasses.dataclass)}
MUTABLE = {"record": make(record, frozen=False), "dataclass": make(dataclasses.dataclass, frozen=False)}

CALLS: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = [
    ("Plain", (1,), {}),
    ("Plain", (1, "y"), {}),
    ("Plain", (1,), {"c": [2], "d": 9.0, "f": 4}),
    ("Plain", (), {"a": 5, "b": "z"}),
    ("Plain", (), {"f": 1, "c": [], "a": 5}),  # keywords out of field order
    ("Plain", (), {}),  # missing a
    ("Plain", (1, "y", [3], 1.0, 4, 5), {}),  # too many positional
    ("Plain", (1,), {"a": 2}),  # a twice
    ("Plain", (1,), {"zzz": 2}),  # unknown
    ("Plain", (1,), {"e": 2}),  # init=False field
    ("KwOnly", (), {"name": "n"}),
    ("KwOnly", (), {"name": "n", "size": 4, "tags": ("t",)}),
    ("KwOnly", (), {"tags": ("t",), "name": "n"}),
    ("KwOnly", ("n",), {}),  # keyword only
    ("KwOnly", (), {"size": 4}),  # missing name
    ("Mixed", (1,), {}),
    ("Mixed", (1,), {"b": 5, "c": 6}),
    ("Mixed", (1, 5), {}),  # b is keyword only
    ("Checked", (3,), {}),
    ("Checked", (-1,), {}),  # __post_init__ raises
    ("Own", (12,), {}),
    ("Child", (1,), {}),
    ("Child", (1, 4, 5), {}),
    ("Child", (), {"c": 9}),  # missing a
]


def outcome(classes: dict[str, type], name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    try:
        obj = classes[name](*args, **kwargs)
    except (TypeError, ValueError) as error:
        return type(error)
    return obj


@pytest.mark.parametrize("family", [FROZEN, MUTABLE], ids=["frozen", "mutable"])
@pytest.mark.parametrize(("name", "args", "kwargs"), CALLS)
def test_construction_repr_and_fields_match_dataclasses(
    family: dict[str, dict[str, type]], name: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    mine = outcome(family["record"], name, args, kwargs)
    theirs = outcome(family["dataclass"], name, args, kwargs)
    if isinstance(theirs, type):
        assert mine is theirs, f"{name}{args}{kwargs}: dataclass raises {theirs.__name__}, record gives {mine!r}"
        return
    assert not isinstance(mine, type), f"{name}{args}{kwargs}: record raises {mine.__name__}, dataclass does not"
    assert dataclasses.asdict(mine) == dataclasses.asdict(theirs)
    assert vars(mine) == vars(theirs)  # every field set on the instance, init=False ones included
    assert list(vars(mine)) == list(vars(theirs))  # in field order, whatever the call's order (manifests keep it)
    assert repr(mine) == repr(theirs)
    assert [f.name for f in dataclasses.fields(mine)] == [f.name for f in dataclasses.fields(theirs)]
    assert dataclasses.is_dataclass(mine)
    assert type(mine).__match_args__ == type(theirs).__match_args__


@pytest.mark.parametrize("family", [FROZEN, MUTABLE], ids=["frozen", "mutable"])
def test_equality_and_hashing_match_dataclasses(family: dict[str, dict[str, type]]) -> None:
    pairs = [
        ("Plain", (1,), {}, (1,), {}),
        ("Plain", (1,), {"d": 2.0}, (1,), {"d": 3.0}),  # d is not compared
        ("Plain", (1,), {"f": 4}, (1,), {"f": 5}),  # f is compared but not hashed
        ("Plain", (1,), {}, (2,), {}),
        ("KwOnly", (), {"name": "a"}, (), {"name": "a", "size": 2}),
        ("Own", (12,), {}, (22,), {}),
        ("Child", (1,), {}, (1,), {}),
    ]
    for name, a1, k1, a2, k2 in pairs:
        results = {}
        for kind in ("record", "dataclass"):
            cls = family[kind][name]
            x, y = cls(*a1, **k1), cls(*a2, **k2)
            try:
                hashes: Any = (hash(x) == hash(y), hash(x) == hash(cls(*a1, **k1)))
            except TypeError:
                hashes = TypeError
            results[kind] = (x == y, x != y, x == object(), x.__eq__(object()), hashes)
        assert results["record"] == results["dataclass"], name
    # Another class with the same fields and values is never equal (dataclasses compares the class first).
    if family is MUTABLE:
        assert family["record"]["Plain"](1) != FROZEN["record"]["Plain"](1)


def test_frozen_refuses_assignment_and_deletion_like_dataclasses() -> None:
    for kind in ("record", "dataclass"):
        obj = FROZEN[kind]["Plain"](1)
        with pytest.raises(dataclasses.FrozenInstanceError):
            obj.a = 2  # type: ignore[misc]
        with pytest.raises(dataclasses.FrozenInstanceError):
            obj.new = 2  # type: ignore[attr-defined]
        with pytest.raises(dataclasses.FrozenInstanceError):
            del obj.a  # type: ignore[misc]
        assert obj.a == 1
    mutable = MUTABLE["record"]["Plain"](1)
    mutable.a = 2
    assert mutable.a == 2


def test_subclass_that_is_no_record_may_add_attributes_as_with_dataclasses() -> None:
    for kind in ("record", "dataclass"):

        class Loose(FROZEN[kind]["Plain"]):  # type: ignore[misc,valid-type]
            pass

        obj = Loose(1)
        obj.extra = 5
        assert obj.extra == 5
        with pytest.raises(dataclasses.FrozenInstanceError):
            obj.a = 3


def test_dataclasses_helpers_copy_and_pickle_work_on_records() -> None:
    Plain = FROZEN["record"]["Plain"]
    obj = Plain(1, "y", [4])
    changed = dataclasses.replace(obj, b="z")
    assert (changed.a, changed.b, changed.c) == (1, "z", [4])
    with pytest.raises(ValueError, match="init=False"):
        dataclasses.replace(obj, e=3)
    assert dataclasses.astuple(obj) == (1, "y", [4], 0.5, 0, 3)
    assert copy.deepcopy(obj) == obj and copy.copy(obj) == obj
    Checked = FROZEN["record"]["Checked"]
    with pytest.raises(ValueError, match="n must be"):
        dataclasses.replace(Checked(1), n=-2)  # replace runs __post_init__ again, as with dataclasses


@record
class Picklable:
    """Module level, so pickle can find it."""

    a: int
    b: tuple[int, ...] = ()


def test_pickle_round_trip() -> None:
    obj = Picklable(1, (2, 3))
    assert pickle.loads(pickle.dumps(obj)) == obj


def test_default_factory_runs_per_instance() -> None:
    Plain = FROZEN["record"]["Plain"]
    first, second = Plain(1), Plain(2)
    assert first.c == [1] and first.c is not second.c


def test_mixing_frozen_and_mutable_is_refused_like_dataclasses() -> None:
    with pytest.raises(TypeError, match="cannot inherit"):

        @record(frozen=False)
        class Thawed(FROZEN["record"]["Plain"]):  # type: ignore[misc,valid-type]
            pass

    with pytest.raises(TypeError, match="cannot inherit"):

        @record
        class Frozen(MUTABLE["dataclass"]["Plain"]):  # type: ignore[misc,valid-type]
            pass


def test_creating_a_record_compiles_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """What record is for: dataclasses compiles source (exec) for every class; a record's class runs no exec."""
    calls: list[str] = []
    real_exec = exec

    def counting_exec(source: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(str(source)[:40])
        return real_exec(source, *args, **kwargs)

    monkeypatch.setattr(dataclasses, "exec", counting_exec, raising=False)  # dataclasses' _create_fn calls exec
    make(record)
    assert calls == []
    make(dataclasses.dataclass)
    assert calls, "the check itself is broken: dataclasses no longer calls exec here"


def _dataclass_decorators(path: Path, root: Path = ROOT) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            for deco in node.decorator_list:
                target = deco.func if isinstance(deco, ast.Call) else deco
                name = ast.unparse(target)
                if name in ("dataclass", "dataclasses.dataclass"):
                    found.append(f"{path.relative_to(root)}:{node.lineno} {node.name}")
    return found


def test_no_plain_dataclass_left_in_the_package_or_functions() -> None:
    """Every class ``sdk`` (and the function entry points) import is a record: one plain dataclass on an import path
    costs ~0.5 ms of every cold start again."""
    found = [
        hit
        for folder in ("sdk", "functions")
        for path in sorted((ROOT / folder).rglob("*.py"))
        for hit in _dataclass_decorators(path)
    ]
    assert found == [], (
        "use sdk._record.record (@record, @record(kw_only=True), @record(frozen=False)) instead of "
        f"dataclasses.dataclass: {found}"
    )


def test_the_check_finds_a_dataclass(tmp_path: Path) -> None:
    sample = tmp_path / "m.py"
    sample.write_text(
        "import dataclasses\nfrom dataclasses import dataclass\n"
        "@dataclasses.dataclass(frozen=True)\nclass A:\n    a: int\n"
        "@dataclass\nclass B:\n    b: int\n"
    )
    assert _dataclass_decorators(sample, tmp_path) == ["m.py:4 A", "m.py:7 B"]


@pytest.mark.parametrize("family", [FROZEN, MUTABLE], ids=["frozen", "mutable"])
@pytest.mark.parametrize("name", ["Plain", "KwOnly", "Mixed", "Checked", "Child"])
def test_signature_matches_dataclasses(family: dict[str, dict[str, type]], name: str) -> None:
    """help(), IDEs and inspect.signature show the fields, defaults and keyword-only marks a dataclass shows."""
    import inspect

    mine, theirs = family["record"][name], family["dataclass"][name]
    assert str(inspect.signature(mine)) == str(inspect.signature(theirs))
    assert str(inspect.signature(mine)) == str(inspect.signature(mine))  # kept, and still right when read again
    assert "(" + str(inspect.signature(theirs)).strip("()") in _pydoc(mine)


def _pydoc(cls: type) -> str:
    import pydoc

    return pydoc.render_doc(cls, renderer=pydoc.plaintext)


def test_signature_of_a_subclass_with_its_own_init_is_that_init() -> None:
    import inspect

    @record
    class Base:
        a: int

    class Sub(Base):
        def __init__(self, x: str, y: int = 2) -> None:
            super().__init__(len(x) + y)

    class Same(Base):
        pass

    assert str(inspect.signature(Base)) == "(a: 'int') -> None"
    assert str(inspect.signature(Sub)) == "(x: 'str', y: 'int' = 2) -> 'None'"
    assert str(inspect.signature(Same)) == "(a: 'int') -> None"
    with pytest.raises(TypeError):
        inspect.signature(Base(1))  # an instance is not callable, as with a dataclass


def test_every_record_of_the_client_runtime_and_serving_has_its_signature() -> None:
    import dataclasses as dc
    import importlib
    import inspect
    import sys

    for name in ("sdk.client", "sdk.runtime.model", "sdk.serving.service", "sdk.artifacts", "sdk.settings"):
        importlib.import_module(name)
    records = {
        value
        for module in list(sys.modules.values())
        if (getattr(module, "__name__", "") or "").startswith("sdk.")
        for value in vars(module).values()
        if isinstance(value, type) and "__record__" in value.__dict__
    }
    assert len(records) > 40
    for cls in records:
        names = list(inspect.signature(cls).parameters)
        assert names == [f.name for f in dc.fields(cls) if f.init], cls
