"""Configuration errors that name the key, and the checks that raise them.

One error type for every bad setting (:class:`ConfigError`, a ValueError): the message is one line
``<key>=<value>: <what is allowed>``, which the entry points print as is (exit status 2, no
traceback). :func:`check_fields` checks a plain dict against a dataclass's type hints before the
dataclass is built, so ``train.epochs=abc`` or ``model.tde_stages=2.7`` fail with the key and the
expected type instead of a ``TypeError`` deep inside training. An int is accepted for a float
field (YAML's ``1`` for ``1.0``); a bool is never accepted for a number.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any

from tdmi.utils.io import flatten

# TrainConfig fields that change how a run executes, not what it learns: two runs differing only
# in these may resume each other and count as the same ablation cell (tdmi/run.py).
EXECUTION_ONLY: tuple[str, ...] = ("progress", "num_workers", "resume")


class ConfigError(ValueError):
    """A setting that is missing, of the wrong type or out of range; ``key`` names it."""

    def __init__(self, key: str, value: Any, allowed: str):
        super().__init__(f"{key}={value!r}: {allowed}")
        self.key, self.value, self.allowed = key, value, allowed


def _conforms(value: Any, hint: Any) -> bool:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_conforms(value, arg) for arg in args)
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if origin in (tuple, list):
        if not isinstance(value, list | tuple):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(_conforms(v, args[0]) for v in value)
        return not args or (len(args) == len(value) and all(map(_conforms, value, args)))
    return True  # a type this check does not know: the dataclass decides


def describe(hint: Any) -> str:
    """What a value of ``hint`` looks like, in words (for error messages)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(describe(arg) for arg in args)
    if origin in (tuple, list):
        if len(args) == 2 and args[1] is Ellipsis:
            return f"a list of {describe(args[0]).removeprefix('an ').removeprefix('a ')}s"
        return f"a list of {len(args)} {describe(args[0]).removeprefix('an ').removeprefix('a ')}s"
    names = {type(None): "null", bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    return names.get(hint, getattr(hint, "__name__", str(hint)))


def check_fields(cls: type, values: Mapping[str, Any], prefix: str) -> None:
    """ConfigError for the first key of ``values`` that is not a field of the dataclass ``cls`` or
    whose value does not match the field's type; ``prefix`` is the config group ("train.")."""
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    for key, value in values.items():
        if key not in hints:
            raise ConfigError(f"{prefix}{key}", value, f"not a setting; known: {', '.join(names)}")
        if not _conforms(value, hints[key]):
            raise ConfigError(f"{prefix}{key}", value, f"must be {describe(hints[key])}")


def require(ok: bool, key: str, value: Any, allowed: str) -> None:
    """ConfigError(key, value, allowed) unless ``ok``."""
    if not ok:
        raise ConfigError(key, value, allowed)


def require_count(value: Any, key: str, why: str = "") -> int:
    """``value`` when it is an integer >= 1 (not a bool); else ConfigError naming ``key``."""
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= 1
    require(ok, key, value, "must be an integer >= 1" + (f" ({why})" if why else ""))
    return value


def config_diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """``"key: old -> new"`` for every flattened key whose value differs (or exists on one side)."""
    a, b = flatten(old), flatten(new)
    missing = object()
    return [
        f"{k}: {a.get(k, '<absent>')} -> {b.get(k, '<absent>')}"
        for k in sorted(set(a) | set(b))
        if a.get(k, missing) != b.get(k, missing)
    ]
