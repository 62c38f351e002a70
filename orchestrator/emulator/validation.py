"""Checking JSON request bodies the way a protobuf JSON parser does: known fields, right types.

Each schema maps every accepted wire name (the JSON name and the proto field name) to the
canonical name and a kind; a message always names the field by its full path.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from orchestrator.emulator.errors import invalid

Kind = Literal["string", "bool", "int", "object"]
Schema = Mapping[str, tuple[str, Kind]]


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f"string {value!r}"
    return f"{type(value).__name__} {value!r}"


def _convert(value: Any, kind: Kind, path: str) -> Any:
    if kind == "string" and isinstance(value, str):
        return value
    if kind == "bool" and isinstance(value, bool):
        return value
    if kind == "object" and isinstance(value, dict):
        return value
    if kind == "int":
        # Protobuf JSON carries int64 as a number or as a decimal string.
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lstrip("-").isdigit():
            return int(value)
    wanted = {"string": "a string", "bool": "true or false", "int": "an integer"}.get(
        kind, "an object"
    )
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
        result[canonical] = _convert(field_value, kind, full)
    return result
