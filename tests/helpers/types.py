"""What a type checker reads of the package, checked at run time."""

from __future__ import annotations

import dataclasses
import typing

from ohws_jupyter.engine.promise import Promise

__all__ = ["assert_call_forms", "assert_dict_of"]


def assert_call_forms(cls: type, name: str) -> None:
    """``cls.name`` has an overload per call form: ``Promise[bool]`` without a callback,
    ``None`` with one, and no parameter typed ``Any``."""
    forms = typing.get_overloads(getattr(cls, name))
    assert len(forms) >= 2, name
    for form in forms:
        hints = typing.get_type_hints(form)
        returns = hints.pop("return")
        if "callback" in hints:
            assert returns is type(None), (name, hints)
        else:
            assert returns == Promise[bool], (name, hints)
        assert typing.Any not in hints.values(), (name, hints)


def assert_dict_of(cls: type, as_dict: type) -> None:
    """The TypedDict ``as_dict`` has the keys of the dataclass ``cls``; those without a
    default are the required ones."""
    fields = dataclasses.fields(cls)
    assert set(as_dict.__annotations__) == {f.name for f in fields}
    required = {
        f.name
        for f in fields
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }
    assert getattr(as_dict, "__required_keys__") == required  # noqa: B009
