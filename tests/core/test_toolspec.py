"""Tool schemas derived from handlers: what the API is told, and how arguments are checked."""

from __future__ import annotations

import json
from typing import Literal

import pytest

import batchpoll
from batchpoll import ConfigurationError, Tool, ToolSettings
from batchpoll._tools import run_tool_calls
from batchpoll._toolspec import as_tools
from batchpoll.kinds import ToolCall


def lookup(query: str, round: int) -> str:
    """Look a query up.

    Args:
        query: what to look for
        round: which round of
            the conversation this is
    """
    return f"result {round}: {query}"


def test_a_typed_handler_gets_a_strict_responses_schema() -> None:
    spec = batchpoll.tool(lookup)
    schema = spec.responses_schema()
    assert schema["type"] == "function"
    assert schema["name"] == "lookup"
    assert schema["strict"] is True
    assert schema["description"] == "Look a query up."
    params = schema["parameters"]
    assert params["type"] == "object"
    assert params["additionalProperties"] is False
    assert sorted(params["required"]) == ["query", "round"]
    assert params["properties"]["query"]["type"] == "string"
    assert params["properties"]["query"]["description"] == "what to look for"
    assert params["properties"]["round"]["type"] == "integer"
    assert params["properties"]["round"]["description"] == (
        "which round of the conversation this is"
    )
    json.dumps(schema)  # sent as is


def test_assistants_shape_nests_the_function() -> None:
    schema = batchpoll.tool(lookup).assistants_schema()
    assert schema["type"] == "function"
    assert schema["function"]["name"] == "lookup"
    assert "type" not in schema["function"]


def test_defaults_and_missing_hints_make_a_plain_schema() -> None:
    def search(text, limit: int = 5, mode: Literal["fast", "full"] = "fast") -> str:  # type: ignore[no-untyped-def]
        """:param text: the text
        :param limit: how many"""
        return str(text)

    spec = batchpoll.tool(search)
    assert spec.strict is False
    params = spec.parameters
    assert params["required"] == ["text"]
    assert params["properties"]["limit"]["default"] == 5
    assert params["properties"]["mode"]["enum"] == ["fast", "full"]
    assert params["properties"]["text"]["description"] == "the text"
    assert "title" not in params


def test_by_hand_and_as_a_decorator() -> None:
    @batchpoll.tool(name="find", description="Find it", strict=False)
    def anything(**kwargs: object) -> str:
        return "x"

    assert isinstance(anything, Tool)
    assert anything.name == "find"
    assert anything.responses_schema()["description"] == "Find it"
    assert anything.parameters["type"] == "object"
    given = {"type": "object", "properties": {"q": {"type": "string"}}}
    manual = batchpoll.tool(lookup, parameters=given)
    assert manual.parameters == given
    assert manual.strict is False


def test_tools_argument_forms() -> None:
    by_list = as_tools([lookup, batchpoll.tool(lookup, name="other")])
    assert sorted(by_list) == ["lookup", "other"]
    by_map = as_tools({"lookup": lookup})
    assert by_map["lookup"].handler is lookup
    with pytest.raises(ConfigurationError, match="two tools are named"):
        as_tools([lookup, lookup])
    with pytest.raises(ConfigurationError, match="is a tool named"):
        as_tools({"x": batchpoll.tool(lookup)})
    with pytest.raises(ConfigurationError, match="tool name"):
        batchpoll.tool(lambda: 1)


async def test_arguments_are_validated_before_the_handler_runs() -> None:
    calls: list[tuple[str, int]] = []

    def typed(query: str, round: int) -> str:
        calls.append((query, round))
        return "ok"

    tools = as_tools([typed])
    good = ToolCall("a", "typed", json.dumps({"query": "q", "round": "2"}))  # coerced
    bad = ToolCall("b", "typed", json.dumps({"query": "q"}))
    extra = ToolCall("c", "typed", json.dumps({"query": "q", "round": 1, "x": 1}))
    out = dict(await run_tool_calls([good, bad, extra], tools, ToolSettings()))
    assert out["a"] == "ok"
    assert calls == [("q", 2)]
    assert "invalid arguments: round: Field required" in json.loads(out["b"])["error"]
    assert "x: Extra inputs are not permitted" in json.loads(out["c"])["error"]
