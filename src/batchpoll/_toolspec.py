"""Tools as the API sees them: a handler, its name, and the JSON schema of its arguments.

The schema is derived from the handler's signature, type hints and docstring by pydantic (a
model built from the signature), then shaped by the SDK's own helpers
(``openai.pydantic_responses_function_tool`` / ``pydantic_function_tool``), so batchpoll has no
type mapper of its own. The same model validates the arguments a model sends before the handler
runs: a wrong or missing argument becomes an error text sent back to the model, not a crash.

Strict mode (``"strict": true``) needs every parameter typed and required; a handler with a
default, an unannotated parameter or ``**kwargs`` gets a non-strict schema instead, which the API
accepts as it is. ``tool(...)`` overrides any part by hand.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast, get_type_hints, overload

import openai
import pydantic

from ._errors import ConfigurationError

__all__ = ["Tool", "ToolHandler", "ToolsArg", "as_tools", "tool"]

ToolHandler = Callable[..., Any]
ToolsArg = Mapping[str, "ToolHandler | Tool"] | Iterable["ToolHandler | Tool"]

_PARAM_LINE = re.compile(r"^\s*[*]{0,2}(\w+)\s*(?:\([^)]*\))?\s*:\s*(.+)$")
_SECTION = re.compile(r"^\s*(Args|Arguments|Parameters|Returns|Raises|Yields|Example|Examples)\s*:")


def _docstring(fn: ToolHandler) -> tuple[str | None, dict[str, str]]:
    """The summary (text before any section) and per-parameter texts of a Google-style
    docstring (``Args:`` with ``name: text`` lines) or a Sphinx one (``:param name: text``)."""
    doc = inspect.getdoc(fn)
    if not doc:
        return None, {}
    summary: list[str] = []
    params: dict[str, str] = {}
    section: str | None = None
    last: str | None = None
    for line in doc.splitlines():
        sphinx = re.match(r"^\s*:param\s+(?:\w+\s+)?(\w+):\s*(.*)$", line)
        if sphinx:
            last = sphinx.group(1)
            params[last] = sphinx.group(2).strip()
            section = "sphinx"
            continue
        heading = _SECTION.match(line)
        if heading:
            section, last = heading.group(1), None
            continue
        if section is None:
            summary.append(line)
        elif section in ("Args", "Arguments", "Parameters"):
            match = _PARAM_LINE.match(line)
            if match and (last is None or not line.startswith(" " * 8)):
                last = match.group(1)
                params[last] = match.group(2).strip()
            elif last is not None and line.strip():
                params[last] += " " + line.strip()  # a continuation line
    text = "\n".join(summary).strip()
    return (text or None), params


def _arguments_model(fn: ToolHandler, name: str) -> tuple[type[pydantic.BaseModel] | None, bool]:
    """A pydantic model of ``fn``'s keyword arguments, and whether strict mode fits it.
    None when the signature can't be one (``*args``, ``**kwargs``, positional-only)."""
    try:
        signature = inspect.signature(fn)
        hints = get_type_hints(fn)
    except (TypeError, ValueError, NameError):
        return None, False
    _, described = _docstring(fn)
    fields: dict[str, Any] = {}
    strict = True
    for param in signature.parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD, param.POSITIONAL_ONLY):
            return None, False
        annotation = hints.get(param.name, Any)
        if param.name not in hints or param.default is not param.empty:
            strict = False
        default = ... if param.default is param.empty else param.default
        fields[param.name] = (
            annotation,
            pydantic.Field(default, description=described.get(param.name)),
        )
    config = pydantic.ConfigDict(extra="forbid", arbitrary_types_allowed=True)
    model = pydantic.create_model(name, __config__=config, **fields)
    return model, strict


def _plain_schema(model: type[pydantic.BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema()
    schema.pop("title", None)
    for prop in schema.get("properties", {}).values():
        if isinstance(prop, dict):
            prop.pop("title", None)
    return schema


@dataclass(frozen=True, slots=True)
class Tool:
    """One function tool: what the API is told (``name``, ``description``, ``parameters``,
    ``strict``) and what runs when a model calls it (``handler``)."""

    name: str
    handler: ToolHandler
    parameters: Mapping[str, Any]
    description: str | None = None
    strict: bool = False
    arguments: type[pydantic.BaseModel] | None = field(default=None, repr=False, compare=False)

    def responses_schema(self) -> dict[str, Any]:
        """The Responses API's flat shape: ``{"type": "function", "name": ...}``."""
        schema: dict[str, Any] = {
            "type": "function",
            "name": self.name,
            "parameters": dict(self.parameters),
            "strict": self.strict,
        }
        if self.description:
            schema["description"] = self.description
        return schema

    def assistants_schema(self) -> dict[str, Any]:
        """The Assistants / Chat shape: ``{"type": "function", "function": {...}}``."""
        inner = self.responses_schema()
        inner.pop("type")
        return {"type": "function", "function": inner}

    def parse_arguments(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """The handler's keyword arguments, validated (pydantic's error on a bad one)."""
        if self.arguments is None:
            return arguments
        parsed = self.arguments.model_validate(arguments)
        return {name: getattr(parsed, name) for name in type(parsed).model_fields}


def _derive(
    fn: ToolHandler,
    name: str | None,
    description: str | None,
    parameters: Mapping[str, Any] | None,
    strict: bool | None,
) -> Tool:
    if not callable(fn):
        raise ConfigurationError(f"a tool needs a callable handler, got {fn!r}")
    tool_name = name or getattr(fn, "__name__", None)
    if not tool_name or not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", tool_name):
        raise ConfigurationError(
            f"tool name {tool_name!r}: use 1-64 letters, digits, '_' or '-' (give name=...)"
        )
    summary, _ = _docstring(fn)
    model, strict_fits = _arguments_model(fn, tool_name)
    if parameters is None:
        if model is None:
            parameters = {"type": "object", "properties": {}, "additionalProperties": True}
            strict_fits = False
        elif strict is True or (strict is None and strict_fits):
            shaped = openai.pydantic_responses_function_tool(model, name=tool_name)
            parameters = cast("dict[str, Any]", shaped["parameters"])
        else:
            parameters = _plain_schema(model)
    elif strict is None:
        strict_fits = False  # a hand-written schema is strict only when asked
    use_strict = strict_fits if strict is None else strict
    return Tool(
        name=tool_name,
        handler=fn,
        parameters=parameters,
        description=description if description is not None else summary,
        strict=use_strict,
        arguments=model,
    )


@overload
def tool(
    fn: ToolHandler,
    *,
    name: str | None = ...,
    description: str | None = ...,
    parameters: Mapping[str, Any] | None = ...,
    strict: bool | None = ...,
) -> Tool: ...
@overload
def tool(
    fn: None = ...,
    *,
    name: str | None = ...,
    description: str | None = ...,
    parameters: Mapping[str, Any] | None = ...,
    strict: bool | None = ...,
) -> Callable[[ToolHandler], Tool]: ...
def tool(
    fn: ToolHandler | None = None,
    *,
    name: str | None = None,
    description: str | None = None,
    parameters: Mapping[str, Any] | None = None,
    strict: bool | None = None,
) -> Tool | Callable[[ToolHandler], Tool]:
    """A tool from a handler, with any of its schema given by hand; also a decorator::

        @batchpoll.tool(description="Look a word up")
        def lookup(query: str) -> str: ...

    ``parameters`` replaces the derived JSON schema (arguments are then passed unvalidated);
    ``strict`` forces strict mode on or off.
    """
    if fn is None:
        return lambda handler: _derive(handler, name, description, parameters, strict)
    return _derive(fn, name, description, parameters, strict)


def as_tools(tools: ToolsArg | None) -> dict[str, Tool]:
    """``tools=`` as given to ``Poller``: ``{name: handler or Tool}``, or handlers / Tools."""
    if tools is None:
        return {}
    found: dict[str, Tool] = {}
    if isinstance(tools, Mapping):
        for key, value in tools.items():
            spec = value if isinstance(value, Tool) else _derive(value, key, None, None, None)
            if spec.name != key:
                raise ConfigurationError(f"tools[{key!r}] is a tool named {spec.name!r}")
            found[key] = spec
        return found
    for value in tools:
        spec = value if isinstance(value, Tool) else _derive(value, None, None, None, None)
        if spec.name in found:
            raise ConfigurationError(f"two tools are named {spec.name!r}")
        found[spec.name] = spec
    return found
