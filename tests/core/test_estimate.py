from __future__ import annotations

import json
import sys
import threading
import types
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from batchpoll import _estimate
from batchpoll._estimate import estimate_tokens, request_texts, text_counter

TOOLS = [
    {
        "type": "function",
        "name": "lookup",
        "description": "Look a word up",
        "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
    }
]


@pytest.fixture(autouse=True)
def no_tiktoken(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test starts with tiktoken absent and nothing cached."""
    monkeypatch.setitem(sys.modules, "tiktoken", None)  # import tiktoken -> ImportError
    _estimate._COUNTERS.clear()
    yield
    _estimate._COUNTERS.clear()


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"input": "x" * 12_000}, 3000),
        ({"input": "abcde"}, 2),  # ceil(5 / 4)
        ({"input": ""}, 0),
        ({"input": "abcd", "max_output_tokens": 500}, 501),
        ({"input": "abcd", "max_output_tokens": True}, 1),  # a bool is no count
        ({"input": "ab", "instructions": "cd"}, 1),  # one ceil over all the text
        ({"input": [{"role": "user", "content": "12345678"}]}, 2),
        (
            {
                "input": [
                    {
                        "type": "message",
                        "role": "user",
                        "content": [
                            {"type": "input_text", "text": "1234"},
                            {"type": "input_image", "image_url": "https://x/y.png"},
                            {"type": "input_text", "text": "5678"},
                        ],
                    }
                ]
            },
            2,
        ),
        (
            {
                "previous_response_id": "resp_1",
                "input": [
                    {"type": "function_call_output", "call_id": "c1", "output": "12345678"},
                    {
                        "type": "function_call_output",
                        "call_id": "c2",
                        "output": [{"type": "input_text", "text": "1234"}],
                    },
                    {"type": "function_call", "call_id": "c1", "arguments": "{...}"},
                ],
            },
            3,
        ),
        ({"model": "gpt-4o", "temperature": 0.2}, 0),  # nothing to count
        (  # only message items and tool outputs count: not a reasoning item's content
            {"input": [{"type": "reasoning", "content": [{"type": "x", "text": "12345678"}]}]},
            0,
        ),
    ],
)
def test_chars_over_four_on_each_input_shape(params: dict[str, Any], expected: int) -> None:
    assert estimate_tokens(params) == expected


def test_tools_count_as_their_compact_json() -> None:
    compact = json.dumps(TOOLS, separators=(",", ":"), ensure_ascii=False)
    assert list(request_texts({"input": "hi", "instructions": "be brief", "tools": TOOLS})) == [
        "hi",
        "be brief",
        compact,
    ]
    params = {"input": "hi", "tools": TOOLS, "max_output_tokens": 100}
    assert estimate_tokens(params) == -(-(2 + len(compact)) // 4) + 100
    assert estimate_tokens({"input": "hi", "tools": []}) == 1  # no tools: nothing added
    accents = [{"type": "function", "name": "été"}]  # 'é' is one character, not '\\u00e9'
    assert estimate_tokens({"tools": accents}) == -(-len('[{"type":"function","name":"été"}]') // 4)


TEXT = st.text(max_size=30)
PART = st.fixed_dictionaries({"type": st.sampled_from(["input_text", "input_image"]), "text": TEXT})
ITEM = st.one_of(
    st.fixed_dictionaries({"role": st.just("user"), "content": st.one_of(TEXT, st.lists(PART))}),
    st.fixed_dictionaries({"type": st.just("function_call_output"), "output": TEXT}),
    st.fixed_dictionaries({"type": st.just("function_call"), "arguments": TEXT}),
)
PARAMS = st.fixed_dictionaries(
    {"input": st.one_of(TEXT, st.lists(ITEM, max_size=4))},
    optional={
        "instructions": TEXT,
        "max_output_tokens": st.integers(1, 5000),
        "tools": st.lists(st.fixed_dictionaries({"name": TEXT}), max_size=2),
    },
)


# The autouse fixture only hides tiktoken: the same for every example.
@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(params=PARAMS)
def test_the_estimate_is_what_the_mock_charges(params: dict[str, Any]) -> None:
    mock_tokens = pytest.importorskip("batchpoll.mock._tokens")  # the mock's own copy
    assert estimate_tokens(params) == mock_tokens.estimate_request_tokens(params)


def test_a_given_counter_counts_each_string() -> None:
    params = {"input": [{"role": "user", "content": "a b c"}], "instructions": "d e"}
    assert estimate_tokens(params, count=lambda text: len(text.split())) == 5


def fake_tiktoken(get_encoding: Any) -> types.ModuleType:
    module = types.ModuleType("tiktoken")

    def encoding_name_for_model(model: str) -> str:
        if model.startswith("gpt-"):
            return "o200k_base"
        raise KeyError(model)

    module.encoding_name_for_model = encoding_name_for_model  # type: ignore[attr-defined]
    module.get_encoding = get_encoding  # type: ignore[attr-defined]
    return module


class WordEncoding:
    """Stands in for a tiktoken Encoding: one token per word."""

    def encode(self, text: str, *, disallowed_special: Any = "all") -> list[int]:
        assert disallowed_special == ()  # "<|endoftext|>" in a prompt must not raise
        return list(range(len(text.split())))


def test_tiktoken_counts_when_its_encoding_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    loads: list[str] = []

    def get_encoding(name: str) -> WordEncoding:
        loads.append(name)
        return WordEncoding()

    monkeypatch.setitem(sys.modules, "tiktoken", fake_tiktoken(get_encoding))
    params = {"model": "gpt-5", "input": "one two three <|endoftext|>", "max_output_tokens": 10}
    assert estimate_tokens(params) == 14
    assert estimate_tokens({"model": "some-local-model", "input": "a b"}) == 2
    assert loads == ["o200k_base"]  # loaded once, unknown models use the default encoding


def test_an_encoding_that_needs_the_network_falls_back_silently(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def get_encoding(name: str) -> WordEncoding:
        raise ConnectionError("Failed to resolve 'openaipublic.blob.core.windows.net'")

    monkeypatch.setitem(sys.modules, "tiktoken", fake_tiktoken(get_encoding))
    with capture_logs() as logs:
        assert estimate_tokens({"model": "gpt-4o", "input": "one two three"}) == 4  # 13 / 4
        assert estimate_tokens({"model": "gpt-4o", "input": "one two three"}) == 4
    assert [e["event"] for e in logs] == ["batchpoll.tokens.tiktoken_unavailable"]
    assert logs[0]["log_level"] == "debug"
    assert "ConnectionError" in logs[0]["reason"]


def test_a_download_that_hangs_does_not_hang_the_estimate(monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()

    def get_encoding(name: str) -> WordEncoding:
        release.wait()  # a firewall that drops packets: tiktoken sets no timeout
        raise ConnectionError("gave up")

    monkeypatch.setitem(sys.modules, "tiktoken", fake_tiktoken(get_encoding))
    monkeypatch.setattr(_estimate, "_LOAD_TIMEOUT_S", 0.0)
    try:
        with capture_logs() as logs:
            assert estimate_tokens({"model": "gpt-4o", "input": "12345678"}) == 2
        assert logs[0]["reason"] == "timeout"
    finally:
        release.set()


def test_without_the_extra_there_is_no_counter() -> None:
    assert text_counter("gpt-4o") is None
