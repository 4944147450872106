"""Input lines → items: shapes, defaults, metadata, and every kind of bad line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from batchpoll.runner import (
    ITEM_METADATA_KEY,
    BadLine,
    InputError,
    InputUnreadableError,
    Item,
    ItemDefaults,
    parse_line,
    scan_input,
)

DEFAULTS = ItemDefaults(assistant_id="asst_cli", model="gpt-cli")


def parse(obj: Any, line_no: int = 7, defaults: ItemDefaults = DEFAULTS) -> Item | BadLine:
    text = obj if isinstance(obj, str) else json.dumps(obj)
    return parse_line(line_no, text, defaults)


def item(obj: Any, **kw: Any) -> Item:
    result = parse(obj, **kw)
    assert isinstance(result, Item), result
    return result


def bad(obj: Any, **kw: Any) -> str:
    result = parse(obj, **kw)
    assert isinstance(result, BadLine), result
    assert result.error.type == "bad_input"
    return result.error.message


def test_prompt_becomes_create_and_run_with_item_metadata_everywhere() -> None:
    it = item({"id": "a1", "prompt": "hi", "metadata": {"team": "x"}, "instructions": "be brief"})
    assert (it.key, it.kind, it.action, it.line_no) == ("a1", "assistants", "create", 7)
    meta = {"team": "x", ITEM_METADATA_KEY: "a1"}
    assert it.params == {
        "assistant_id": "asst_cli",
        "model": "gpt-cli",
        "instructions": "be brief",
        "thread": {"messages": [{"role": "user", "content": "hi"}], "metadata": meta},
        "metadata": meta,
    }


def test_id_defaults_to_the_line_number_and_line_values_win_over_defaults() -> None:
    it = item({"prompt": "hi", "assistant_id": "asst_line", "model": "m-line"}, line_no=3)
    assert it.key == "3"
    assert it.params["assistant_id"] == "asst_line"
    assert it.params["model"] == "m-line"
    assert item({"id": 12, "prompt": "x"}).key == "12"


def test_messages_and_params_pass_through() -> None:
    msgs = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]
    it = item({"messages": msgs, "params": {"temperature": 0.2}})
    assert it.params["thread"]["messages"] == msgs
    assert it.params["temperature"] == 0.2


def test_input_becomes_a_background_response() -> None:
    it = item({"id": "r1", "input": "hello", "metadata": {"k": "v"}})
    assert (it.kind, it.action) == ("responses", "create")
    assert it.params == {
        "model": "gpt-cli",
        "input": "hello",
        "metadata": {"k": "v", ITEM_METADATA_KEY: "r1"},
    }


def test_kind_option_turns_prompts_into_responses_and_inputs_into_runs() -> None:
    responses = ItemDefaults(kind="responses", model="m")
    assert item({"prompt": "p"}, defaults=responses).params["input"] == "p"
    assistants = ItemDefaults(kind="assistants", assistant_id="a")
    it = item({"input": "p"}, defaults=assistants)
    assert it.kind == "assistants"
    assert it.params["thread"]["messages"] == [{"role": "user", "content": "p"}]


def test_existing_jobs_are_tracked() -> None:
    run = item({"id": "t1", "thread_id": "thread_1", "run_id": "run_1"})
    assert (run.kind, run.action, dict(run.ids)) == (
        "assistants",
        "track",
        {"thread_id": "thread_1", "run_id": "run_1"},
    )
    resp = item({"id": "x1", "response_id": "resp_1"})
    assert (resp.kind, resp.action, dict(resp.ids)) == (
        "responses",
        "track",
        {"response_id": "resp_1"},
    )


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ("{not json", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        ({"id": "a", "question": "?"}, "unknown shape"),
        ({"prompt": "p", "messages": []}, "either 'prompt' or 'messages'"),
        ({"prompt": ""}, "'prompt' must be a non-empty string"),
        ({"messages": [{"role": "user"}]}, "each message needs 'role' and 'content'"),
        ({"prompt": "p", "colour": "red"}, "unknown field(s) 'colour'"),
        ({"prompt": "p", "metadata": {"n": 1}}, "'metadata' must be an object of string values"),
        ({"thread_id": "t"}, "needs both 'thread_id' and 'run_id'"),
        ({"response_id": "r", "prompt": "p"}, "only ids"),
        ({"id": True, "prompt": "p"}, "'id' must be a string or an integer"),
        ({"id": "x" * 513, "prompt": "p"}, "longer than 512"),
    ],
)
def test_bad_lines_name_their_line_number(obj: Any, message: str) -> None:
    text = bad(obj)
    assert text.startswith("line 7: ")
    assert message in text


def test_missing_assistant_or_model_is_a_bad_line() -> None:
    assert "no model" in bad({"prompt": "p"}, defaults=ItemDefaults())
    assert "no assistant" in bad({"prompt": "p"}, defaults=ItemDefaults(kind="assistants"))
    assert "no model" in bad({"input": "p"}, defaults=ItemDefaults())
    assert "--kind is responses" in bad(
        {"thread_id": "t", "run_id": "r"}, defaults=ItemDefaults(kind="responses")
    )


def write(path: Path, lines: list[Any]) -> Path:
    path.write_text(
        "".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines),
        encoding="utf-8",
    )
    return path


def test_scan_counts_items_skips_blank_lines_and_hashes_the_bytes(tmp_path: Path) -> None:
    path = write(tmp_path / "in.jsonl", [{"id": "a", "prompt": "p"}, "", "{bad", {"prompt": "q"}])
    scan = scan_input(path, DEFAULTS)
    assert (scan.items, scan.bad_lines) == (3, 1)
    assert scan.sha256 == scan_input(path, DEFAULTS).sha256
    write(path, [{"id": "a", "prompt": "p2"}])
    assert scan_input(path, DEFAULTS).sha256 != scan.sha256


def test_duplicate_ids_are_one_error_listing_them(tmp_path: Path) -> None:
    path = write(
        tmp_path / "in.jsonl",
        [
            {"id": "a", "prompt": "p"},
            {"id": "b", "prompt": "p"},
            {"id": "a", "prompt": "q"},
            {"prompt": "r"},
            {"id": "4", "prompt": "s"},
        ],
    )
    with pytest.raises(InputError) as info:
        scan_input(path, DEFAULTS)
    assert str(info.value) == "duplicate ids in in.jsonl: 'a' on lines 1, 3; '4' on lines 4, 5"


def test_an_unreadable_input_is_one_error(tmp_path: Path) -> None:
    with pytest.raises(InputUnreadableError, match=r"cannot read input .*missing\.jsonl"):
        scan_input(tmp_path / "missing.jsonl", DEFAULTS)


def test_non_utf8_line_is_a_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(b'{"prompt": "ok"}\n\xff\xfe\n')
    scan = scan_input(path, DEFAULTS)
    assert (scan.items, scan.bad_lines) == (2, 1)


def test_prompt_lines_are_responses_unless_an_assistant_is_named() -> None:
    plain = item({"prompt": "p"}, defaults=ItemDefaults(model="m"))
    assert plain.kind == "responses"
    assert plain.params["input"] == "p"
    assert plain.params["model"] == "m"
    named = item({"prompt": "p", "assistant_id": "asst_1"}, defaults=ItemDefaults())
    assert named.kind == "assistants"
    by_default = item({"prompt": "p"}, defaults=ItemDefaults(assistant_id="asst_1", model="m"))
    assert by_default.kind == "assistants"
    assert item({"input": "p"}, defaults=ItemDefaults(assistant_id="a", model="m")).kind == (
        "responses"
    )


def test_responses_parameters_at_the_top_level() -> None:
    line = {"input": "p", "model": "m", "max_output_tokens": 64, "tools": [], "temperature": 0}
    got = item(line)
    assert got.params["max_output_tokens"] == 64
    assert got.params["temperature"] == 0
    assert "stored to be polled" in bad({"input": "p", "model": "m", "store": False})
    assert "stored to be polled" in bad({"input": "p", "model": "m", "params": {"store": False}})
    assert "background responses" in bad({"input": "p", "model": "m", "background": False})
    run_line = {"prompt": "p", "assistant_id": "a", "store": True}
    assert "Responses parameters" in bad(run_line, defaults=ItemDefaults())


def test_a_duration_hint_goes_to_the_poller_not_to_the_api() -> None:
    it = item({"id": "h", "input": "q", "model": "m", "duration_hint_s": 90})
    assert it.hint_s == 90
    assert "duration_hint_s" not in it.params
    assert item({"id": "h", "prompt": "q", "duration_hint_s": 1.5}).hint_s == 1.5
    assert item({"id": "n", "input": "q", "model": "m"}).hint_s is None


@pytest.mark.parametrize("hint", [0, -3, "60", True, [60]])
def test_a_bad_duration_hint_is_a_bad_line(hint: Any) -> None:
    message = bad({"id": "h", "input": "q", "model": "m", "duration_hint_s": hint})
    assert "'duration_hint_s' must be a number of seconds > 0" in message
