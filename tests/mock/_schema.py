"""A JSON Schema validator for the keywords OpenAI's OpenAPI 3.1 schemas use (test helper).

``jsonschema`` is not a dependency of this project; this covers exactly the keywords found in
``openapi_subset.json`` (``make_openapi_subset.py`` lists them): ``$ref`` (to
``#/components/schemas/``), ``type`` (a name or a list), OpenAPI's ``nullable``, ``enum``,
``properties``, ``required``, ``additionalProperties``, ``propertyNames``, ``maxProperties``,
``items``, ``minItems``/``maxItems``, ``minLength``/``maxLength``, ``pattern``,
``minimum``/``maximum`` (``exclusiveMinimum``/``exclusiveMaximum`` as booleans, OpenAPI
3.0's form, or numbers, 3.1's), ``allOf``, ``anyOf`` and ``oneOf`` (exactly one). Annotations
(``format``, ``discriminator``) are not assertions. ``$recursiveRef`` (only in
``CompoundFilter``, a file-search filter the mock never sends) accepts anything. An unknown
keyword is an error, so a regenerated subset cannot silently use one this does not check.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

__all__ = ["SchemaError", "errors"]

_ANNOTATIONS = {"format", "discriminator", "$recursiveAnchor", "$recursiveRef", "propertyName"}
_TYPES: dict[str, Any] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}
_KNOWN = {
    "$ref", "type", "nullable", "enum", "properties", "required", "additionalProperties",
    "propertyNames", "maxProperties", "items", "minItems", "maxItems", "minLength",
    "maxLength", "pattern", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
    "allOf", "anyOf", "oneOf", *_ANNOTATIONS,
}  # fmt: skip


class SchemaError(Exception):
    """The schema uses a keyword this validator does not implement."""


def errors(
    value: Any, schema: Mapping[str, Any], schemas: Mapping[str, Any], at: str = "$"
) -> Iterator[str]:
    """Every violation of ``schema`` by ``value``, as ``"<path>: <what>"`` (none: valid)."""
    unknown = set(schema) - _KNOWN
    if unknown:
        raise SchemaError(f"{at}: unsupported keywords {sorted(unknown)}")
    if value is None and schema.get("nullable"):
        return
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        yield from errors(value, schemas[name], schemas, at)
    if "type" in schema:
        names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_TYPES[n](value) for n in names):
            yield f"{at}: {_short(value)} is not of type {names}"
            return
    if "enum" in schema and value not in schema["enum"]:
        yield f"{at}: {_short(value)} not in {schema['enum']}"
    if isinstance(value, dict):
        yield from _object(value, schema, schemas, at)
    if isinstance(value, list):
        yield from _array(value, schema, schemas, at)
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0) or len(value) > schema.get("maxLength", 1e18):
            yield f"{at}: length {len(value)} out of bounds"
        if "pattern" in schema and not re.search(schema["pattern"], value):
            yield f"{at}: {_short(value)} does not match {schema['pattern']!r}"
    low, high = schema.get("minimum", -1e308), schema.get("maximum", 1e308)
    if _TYPES["number"](value) and not low <= value <= high:
        yield f"{at}: {value} out of bounds"
    for key, beyond in (("exclusiveMinimum", low), ("exclusiveMaximum", high)):
        bound = schema.get(key)
        if bound is True:
            bound = beyond  # 3.0: the minimum (maximum) itself is excluded
        if not (_TYPES["number"](value) and _TYPES["number"](bound)):
            continue
        below = value <= bound if key == "exclusiveMinimum" else value >= bound
        if below:
            yield f"{at}: {value} out of bounds ({key})"
    for sub in schema.get("allOf", []):
        yield from errors(value, sub, schemas, at)
    if "anyOf" in schema:
        found = [list(errors(value, sub, schemas, at)) for sub in schema["anyOf"]]
        if all(found):
            yield f"{at}: matches no anyOf branch: {_best(found)}"
    if "oneOf" in schema:
        found = [list(errors(value, sub, schemas, at)) for sub in schema["oneOf"]]
        matched = sum(not e for e in found)
        if matched != 1:
            detail = _best(found) if matched == 0 else f"{matched} branches match"
            yield f"{at}: oneOf needs exactly one branch: {detail}"


def _object(
    value: dict[str, Any], schema: Mapping[str, Any], schemas: Mapping[str, Any], at: str
) -> Iterator[str]:
    properties = schema.get("properties", {})
    for name in schema.get("required", []):
        if name not in value:
            yield f"{at}: missing required {name!r}"
    extra = schema.get("additionalProperties", True)
    for name, item in value.items():
        if name in properties:
            yield from errors(item, properties[name], schemas, f"{at}.{name}")
        elif extra is False:
            yield f"{at}: unexpected property {name!r}"
        elif isinstance(extra, dict):
            yield from errors(item, extra, schemas, f"{at}.{name}")
        if "propertyNames" in schema:
            yield from errors(name, schema["propertyNames"], schemas, f"{at}.<{name}>")
    if len(value) > schema.get("maxProperties", 1e18):
        yield f"{at}: more than {schema['maxProperties']} properties"


def _array(
    value: list[Any], schema: Mapping[str, Any], schemas: Mapping[str, Any], at: str
) -> Iterator[str]:
    if len(value) < schema.get("minItems", 0) or len(value) > schema.get("maxItems", 1e18):
        yield f"{at}: {len(value)} items out of bounds"
    if "items" in schema:
        for i, item in enumerate(value):
            yield from errors(item, schema["items"], schemas, f"{at}[{i}]")


def _best(found: list[list[str]]) -> str:
    """The branch that came closest (fewest violations), to keep messages readable."""
    return "; ".join(min(found, key=len)[:3])


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
