"""Config sections as frozen dataclasses whose fields carry their voluptuous check.

Every key is written once: its type and default in the dataclass, its check in the field's
metadata (``field(default=5028, metadata=check(PORT))``). :func:`section` derives the
validator that turns a YAML mapping into the dataclass; a key left out takes the dataclass
default, so no default lives in a schema. A field without a check is not a YAML key (code
may still set it).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import voluptuous as vol

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

    Section = TypeVar("Section", bound=DataclassInstance)
else:
    Section = TypeVar("Section")

_CHECK = "dualcam.check"
_EXCLUSIVE = "dualcam.exclusive"


class ConfigError(ValueError):
    """The configuration is invalid; the message names the key path (``camera.port: …``)."""


def check(validator: Any, *, exclusive: tuple[str, str] | None = None) -> dict[str, Any]:
    """Field metadata: the voluptuous validator of this YAML key.

    ``exclusive=(group, message)``: at most one key of the group may be set.
    """
    meta: dict[str, Any] = {_CHECK: validator}
    if exclusive is not None:
        meta[_EXCLUSIVE] = exclusive
    return meta


def schema_of(cls: type[DataclassInstance]) -> vol.Schema:
    """The mapping schema of a section: its checked fields, no defaults, no other keys."""
    keys: dict[Any, Any] = {}
    for f in dataclasses.fields(cls):
        if _CHECK not in f.metadata:
            continue
        marker: vol.Marker
        if _EXCLUSIVE in f.metadata:
            group, message = f.metadata[_EXCLUSIVE]
            marker = vol.Exclusive(f.name, group, msg=message)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            marker = vol.Required(f.name)
        else:
            marker = vol.Optional(f.name)
        keys[marker] = f.metadata[_CHECK]
    return vol.Schema(keys, extra=vol.PREVENT_EXTRA)


def section(cls: type[Section]) -> vol.All:
    """A validator turning a mapping into ``cls`` (errors keep the key path)."""
    build: Callable[[dict[str, Any]], Section] = lambda data: cls(**data)  # noqa: E731
    return vol.All(schema_of(cls), build)


def parse(cls: type[Section], data: Any, prefix: str = "") -> Section:
    """Validate ``data`` into ``cls``; raises ConfigError naming ``prefix.key``."""
    try:
        result: Section = vol.Schema(section(cls))(data)
    except vol.MultipleInvalid as exc:
        raise ConfigError(describe(exc, prefix)) from None
    return result


def replace_checked(obj: Section, prefix: str = "", **changes: Any) -> Section:
    """``dataclasses.replace`` with each new value validated by its field's check."""
    try:
        checked: Mapping[str, Any] = schema_of(type(obj))(changes)
    except vol.MultipleInvalid as exc:
        raise ConfigError(describe(exc, prefix)) from None
    return dataclasses.replace(obj, **checked)


def describe(exc: vol.MultipleInvalid, prefix: str = "") -> str:
    """One ``key.path: problem`` per error, joined by ``; ``."""
    return "; ".join(_describe_one(err, prefix) for err in exc.errors)


def _describe_one(err: vol.Invalid, prefix: str) -> str:
    key = ".".join([prefix, *map(str, err.path)] if prefix else map(str, err.path))
    key = key or "(top level)"
    if err.error_message == "extra keys not allowed":
        return f"{key}: unknown key"
    return f"{key}: {err.error_message}"
