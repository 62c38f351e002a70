"""Checking JSON request bodies the way a protobuf JSON parser does: known fields, right types.

Each schema maps every accepted wire name (the JSON name and the proto field name) to the
canonical name and a kind; a message always names the field by its full path.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from orchestrator.emulator.errors import invalid

Kind = Literal["string", "bool", "int", "object", "list", "enum", "any"]
Schema = Mapping[str, tuple[str, Kind]]


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f"string {value!r}"
    return f"{type(value).__name__} {value!r}"


# The kinds a JSON value of one Python type stands for as it is.
_PLAIN: dict[Kind, type] = {"string": str, "bool": bool, "object": dict, "list": list}


def _as_is(value: Any, kind: Kind) -> bool:
    """Whether ``value`` is a ``kind`` as it stands, needing no conversion."""
    if kind in _PLAIN:
        return isinstance(value, _PLAIN[kind])
    number = isinstance(value, int) and not isinstance(value, bool)
    if kind == "int":
        return number
    # Protobuf JSON takes an enum by its name or by its number.
    if kind == "enum":
        return number or isinstance(value, str)
    return kind == "any"


def _convert(value: Any, kind: Kind, path: str) -> Any:
    if _as_is(value, kind):
        return value
    # Protobuf JSON carries int64 as a number or as a decimal string.
    if kind == "int" and isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    wanted = {
        "string": "a string",
        "bool": "true or false",
        "int": "an integer",
        "list": "a list",
        "enum": "an enum name or number",
    }.get(kind, "an object")
    raise invalid(f"{path}: expected {wanted}, got {_describe(value)}")


def check_object(value: Any, schema: Schema, path: str) -> dict[str, Any]:
    """The fields of ``value`` by canonical name, converted; raises a 400 ApiError if wrong.

    A null field counts as absent, as in protobuf JSON.
    """
    if not isinstance(value, dict):
        raise invalid(f"{path or 'request body'}: expected an object, got {_describe(value)}")
    result: dict[str, Any] = {}
    for name, field_value in value.items():
        full = f"{path}.{name}" if path else name
        if name not in schema:
            known = ", ".join(sorted({canonical for canonical, _ in schema.values()}))
            raise invalid(f"unknown field {full} (known fields: {known})")
        canonical, kind = schema[name]
        if canonical in result:
            raise invalid(f"{full}: field given twice (as {canonical} too)")
        if field_value is None:
            continue
        # Name the field by its canonical path, whichever spelling the client used.
        result[canonical] = _convert(
            field_value, kind, f"{path}.{canonical}" if path else canonical
        )
    return result


def proto_schema(*fields: tuple[str, Kind]) -> dict[str, tuple[str, Kind]]:
    """A schema accepting each proto field (given by its snake_case name) under both names.

    The canonical name is the JSON (lowerCamelCase) one, as protobuf's JSON printer uses it.
    """
    schema: dict[str, tuple[str, Kind]] = {}
    for snake, kind in fields:
        head, *rest = snake.split("_")
        camel = head + "".join(part[:1].upper() + part[1:] for part in rest)
        schema[snake] = (camel, kind)
        schema[camel] = (camel, kind)
    return schema


def check_enum(value: Any, names: tuple[str, ...], path: str) -> str:
    """The enum value's name; ``names`` are in number order (UNSPECIFIED first)."""
    if isinstance(value, int) and 0 <= value < len(names):
        return names[value]
    if isinstance(value, str) and value in names:
        return value
    raise invalid(f"{path}: invalid value {_describe(value)} (allowed: {', '.join(names)})")
