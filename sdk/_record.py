"""``record``: ``dataclasses.dataclass`` with the same behaviour, minus the compile at import. Every class in ``sdk``
that would be a dataclass is a record.

Why: ``dataclasses.dataclass`` writes the source of ``__init__``, ``__repr__``, ``__eq__``, ``__hash__``,
``__setattr__`` and ``__delattr__`` for every class and compiles it (``exec``) when the class is created, which is
every time its module is imported: ~0.5 ms per class on CPython 3.10-3.13 (measured: 0.52 ms on 3.11, 0.63 ms on
3.12, 0.71 ms on 3.13). ``sdk.load``'s import path holds 36 such classes and the Lambda handler's init 50, which was a
fifth of a small model's cold start (#20). A record's class is still made by ``dataclasses.dataclass`` (fields,
``__dataclass_fields__``, ``dataclasses.fields``, ``replace``, ``asdict`` and ``is_dataclass`` all work as before),
with ``init``, ``repr`` and ``eq`` off so that nothing is compiled; the methods are then the functions below, written
once here and shared by every record. They read the class's fields from a spec built at decoration time. What a call
costs instead (measured on 3.11): a construction takes ~1-2 us, against 0.35-0.8 us for a mutable dataclass's
compiled ``__init__`` and 0.35-2.1 us for a frozen one's (which sets every field through ``object.__setattr__``).

Behaviour kept from dataclasses, each pinned by tests/sdk/test_record.py against a real dataclass of the same fields:
- construction: positional and keyword arguments (``kw_only`` fields keyword only), defaults, ``default_factory``,
  ``field(init=False)`` (its factory run; a plain default stays the class attribute), ``__post_init__``, and a
  ``TypeError`` in the same cases (missing, unexpected, duplicate, too many);
- ``repr`` of the ``repr=True`` fields; ``==`` between instances of the very same class on the ``compare=True``
  fields (``NotImplemented`` otherwise); hashing by dataclasses' rule (frozen with eq: the compared fields, or those
  with ``field(hash=True)``; eq and not frozen: unhashable);
- ``frozen`` raises ``dataclasses.FrozenInstanceError`` on assigning or deleting any attribute; ``__match_args__``;
  a method the class body defines itself is never replaced.
Not supported: ``order``, ``slots``, ``unsafe_hash``, ``match_args=False`` and weakref slots (none is a parameter of
``record``: passing one is a TypeError), and ``InitVar`` pseudo-fields (their argument is refused as unexpected).
``inspect.signature`` of a record's class (and so ``help()`` and an IDE's call hints) is the dataclass's own, built
on first asking from the fields (a class attribute that computes it: nothing is built at import); type checkers see the
same through ``dataclass_transform``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, overload

if TYPE_CHECKING:
    from typing_extensions import dataclass_transform
else:

    def dataclass_transform(**_options: Any) -> Callable[[Any], Any]:
        return lambda function: function


__all__ = ["record"]

T = TypeVar("T", bound=type)
_MISSING = dataclasses.MISSING
_set = object.__setattr__
_delete = object.__delattr__


class _Spec:
    """What the shared methods need to know about one record class, built once when it is decorated."""

    __slots__ = (
        "compare",
        "factories",
        "fields",
        "fixed",
        "frozen",
        "hashed",
        "init",
        "name",
        "positional",
        "post_init",
        "repr",
        "required",
        "required_set",
        "template",
    )

    def __init__(self, cls: type, *, frozen: bool) -> None:
        fields = dataclasses.fields(cls)  # regular fields only: no ClassVar, no InitVar
        self.name = cls.__qualname__
        init = [f for f in fields if f.init]
        self.positional = tuple(f.name for f in init if not f.kw_only)
        self.init = frozenset(f.name for f in init)
        self.required = tuple(f.name for f in init if f.default is _MISSING and f.default_factory is _MISSING)
        # Every value an instance holds, in field order (dataclasses' __init__ sets them in that order, and whatever
        # writes an instance's __dict__ out, a manifest, must keep it): the defaults, and a placeholder for what the
        # call or a factory gives.
        self.template: dict[str, Any] = {
            f.name: f.default if f.init and f.default is not _MISSING else None
            for f in fields
            if f.init or f.default_factory is not _MISSING
        }
        self.required_set = frozenset(self.required)
        self.factories: tuple[tuple[str, Callable[[], Any]], ...] = tuple(
            (f.name, f.default_factory) for f in init if f.default_factory is not _MISSING
        )
        # init=False fields with a factory get its value; with a plain default they read the class attribute, as
        # with dataclasses.
        self.fixed: tuple[tuple[str, Callable[[], Any]], ...] = tuple(
            (f.name, f.default_factory) for f in fields if not f.init and f.default_factory is not _MISSING
        )
        self.post_init = hasattr(cls, "__post_init__")
        self.repr = tuple(f.name for f in fields if f.repr)
        self.compare = tuple(f.name for f in fields if f.compare)
        self.hashed = tuple(f.name for f in fields if (f.compare if f.hash is None else f.hash))
        self.frozen = frozen
        self.fields = frozenset(f.name for f in fields)


def _spec_of(obj: Any) -> _Spec:
    """The spec of ``obj``'s record class (typed: ``_eq`` narrows ``self`` to ``object`` for mypy)."""
    spec: _Spec = type(obj).__record__
    return spec


def _init(self: Any, /, *args: Any, **kwargs: Any) -> None:
    # One dict of every value, in field order, then one update of the instance's __dict__: a setattr per field cost
    # ~3.9 us for a 15-field class (the compiled __init__ of a mutable dataclass: 0.7 us); this costs ~1.8 us.
    spec: _Spec = type(self).__record__
    if args:
        if len(args) > len(spec.positional):
            raise TypeError(
                f"{spec.name}.__init__() takes {len(spec.positional) + 1} positional arguments "
                f"but {len(args) + 1} were given"
            )
        given = dict(zip(spec.positional, args))
        for name in kwargs:
            if name in given:
                raise TypeError(f"{spec.name}.__init__() got multiple values for argument {name!r}")
        given.update(kwargs)
    else:
        given = kwargs  # a fresh dict on every call
    if not spec.init.issuperset(given):
        unknown = next(name for name in given if name not in spec.init)
        raise TypeError(f"{spec.name}.__init__() got an unexpected keyword argument {unknown!r}")
    if not spec.required_set.issubset(given):
        missing = [name for name in spec.required if name not in given]
        raise TypeError(
            f"{spec.name}.__init__() missing {len(missing)} required argument(s): " + ", ".join(map(repr, missing))
        )
    values = spec.template.copy()
    values.update(given)  # keys already in the template keep their place: field order
    for name, factory in spec.factories:
        if name not in given:
            values[name] = factory()
    for name, factory in spec.fixed:
        values[name] = factory()
    self.__dict__.update(values)
    if spec.post_init:
        self.__post_init__()


def _repr(self: Any) -> str:
    spec: _Spec = type(self).__record__
    return f"{type(self).__qualname__}(" + ", ".join(f"{name}={getattr(self, name)!r}" for name in spec.repr) + ")"


def _eq(self: Any, other: object) -> bool:
    if other.__class__ is not self.__class__:
        return NotImplemented
    names = _spec_of(self).compare
    return tuple(getattr(self, name) for name in names) == tuple(getattr(other, name) for name in names)


def _hash(self: Any) -> int:
    return hash(tuple(getattr(self, name) for name in type(self).__record__.hashed))


def _frozen_setattr(self: Any, name: str, value: Any) -> None:
    if type(self).__dict__.get("__record__") is not None or name in type(self).__record__.fields:
        raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")
    _set(self, name, value)


def _frozen_delattr(self: Any, name: str) -> None:
    if type(self).__dict__.get("__record__") is not None or name in type(self).__record__.fields:
        raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")
    _delete(self, name)


class _Factory:
    """The default shown for a field with a ``default_factory``, as dataclasses shows it."""

    def __repr__(self) -> str:
        return "<factory>"


_FACTORY = _Factory()


class _Signature:
    """``cls.__signature__`` of a record's class: the signature ``dataclasses.dataclass``'s ``__init__`` would give
    (``inspect.signature(cls)``), built from the fields when first asked for and kept on that very class. An
    instance has none (it is not callable), and neither has a subclass with an ``__init__`` of its own: inspect then
    reads that ``__init__``, as it would anyway."""

    def __get__(self, instance: Any, owner: type) -> Any:
        if instance is not None or getattr(owner, "__init__", None) is not _init:
            raise AttributeError("__signature__")
        made = owner.__dict__.get("__record_signature__")
        if made is None:
            made = _signature(owner)
            type.__setattr__(owner, "__record_signature__", made)
        return made


def _signature(cls: type) -> Any:
    import inspect  # ~5 ms on first import, and only help() or an IDE asks

    kind = inspect.Parameter
    params = []
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        if f.default is not _MISSING:
            default: Any = f.default
        elif f.default_factory is not _MISSING:
            default = _FACTORY
        else:
            default = kind.empty
        params.append(
            kind(
                f.name,
                kind.KEYWORD_ONLY if f.kw_only else kind.POSITIONAL_OR_KEYWORD,
                default=default,
                annotation=f.type,
            )
        )
    # dataclasses' __init__ puts the keyword-only fields after the others, whatever their order in the class
    return inspect.Signature(sorted(params, key=lambda p: p.kind), return_annotation=None)


_SIGNATURE = _Signature()


def _make(cls: T, *, frozen: bool, kw_only: bool, eq: bool, repr: bool, init: bool) -> T:
    if "__slots__" in cls.__dict__:
        raise TypeError(f"record {cls.__qualname__}: __slots__ is not supported")
    if "__doc__" not in cls.__dict__ or cls.__doc__ is None:
        cls.__doc__ = cls.__qualname__  # dataclasses would build one with inspect.signature: slow, and misleading here
    own = set(cls.__dict__)
    made: type = dataclasses.dataclass(init=False, repr=False, eq=False, kw_only=kw_only)(cls)
    for base in made.__mro__[1:]:
        params = base.__dict__.get("__dataclass_params__")
        if params is not None and base.__dict__.get("__record__") is None and params.frozen != frozen:
            raise TypeError(
                f"record {cls.__qualname__}: frozen={frozen} cannot inherit from dataclass {base.__qualname__}"
            )
        spec = base.__dict__.get("__record__")
        if spec is not None and spec.frozen != frozen:
            raise TypeError(
                f"cannot inherit {'frozen' if frozen else 'non-frozen'} record {cls.__qualname__} from "
                f"{'frozen' if spec.frozen else 'non-frozen'} record {base.__qualname__}"
            )
    made.__record__ = _Spec(made, frozen=frozen)  # type: ignore[attr-defined]

    def put(name: str, function: Any) -> None:
        if name not in own:
            setattr(made, name, function)

    if init and "__init__" not in own:
        put("__init__", _init)
        made.__signature__ = _SIGNATURE  # type: ignore[attr-defined]
    if repr:
        put("__repr__", _repr)
    if eq:
        put("__eq__", _eq)
    if frozen:
        put("__setattr__", _frozen_setattr)
        put("__delattr__", _frozen_delattr)
    explicit_hash = "__hash__" in own and cls.__dict__["__hash__"] is not None
    if eq and not explicit_hash:
        # dataclasses' rule without unsafe_hash: frozen and eq hash the compared fields; eq alone is unhashable
        # (__hash__ = None), unless the body set __hash__ itself.
        made.__hash__ = _hash if frozen else None  # type: ignore[assignment]
    return made  # type: ignore[return-value]


@overload
def record(cls: T, /) -> T: ...


@overload
def record(
    *, frozen: bool = True, kw_only: bool = False, eq: bool = True, repr: bool = True, init: bool = True
) -> Callable[[T], T]: ...


@dataclass_transform(frozen_default=True, field_specifiers=(dataclasses.field, dataclasses.Field))
def record(
    cls: T | None = None,
    /,
    *,
    frozen: bool = True,
    kw_only: bool = False,
    eq: bool = True,
    repr: bool = True,
    init: bool = True,
) -> T | Callable[[T], T]:
    """``@record`` / ``@record(kw_only=True)`` / ``@record(frozen=False)``: a dataclass as ``dataclasses.dataclass``
    with the same options would make, frozen by default (the value types of ``sdk``); fields with
    ``dataclasses.field`` as usual."""

    def wrap(cls: T) -> T:
        return _make(cls, frozen=frozen, kw_only=kw_only, eq=eq, repr=repr, init=init)

    return wrap if cls is None else wrap(cls)
