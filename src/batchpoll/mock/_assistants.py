"""The Assistants API: assistants, threads, messages and runs, in memory.

Handlers receive the parsed request and ``now``; they return JSON or raise :class:`ApiError`.
Runs are :class:`JobRecord` timelines (see ``_sim``); a run's reply message is added to its
thread lazily, the first time anything reads the thread after the run finished.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._apierror import bad_request, not_found
from ._assistants_json import (
    MessageRecord,
    RunRecord,
    ThreadRecord,
    content_blocks,
    message_json,
    partial_reply,
    run_json,
    run_reply,
    thread_json,
    tool_call_id,
)
from ._config import MockConfig
from ._ids import id_namespace, make_id
from ._pagination import list_object, paginate
from ._reply import called_function, message_text
from ._requests import check_metadata, optional_str, reject_stream, require_list
from ._sim import JobRecord, Timing, draw, observe, snapshot

__all__ = ["AssistantsStore"]

_RUN_ECHO_DEFAULTS: dict[str, Any] = {
    "temperature": 1.0,
    "top_p": 1.0,
    "max_prompt_tokens": None,
    "max_completion_tokens": None,
    "truncation_strategy": {"type": "auto", "last_messages": None},
    "response_format": "auto",
    "tool_choice": "auto",
    "parallel_tool_calls": True,
}


class AssistantsStore:
    def __init__(self, salt: str = "") -> None:
        self._salt = salt  # see _ids: unique ids across instances
        self.assistants: dict[str, dict[str, Any]] = {}
        self.threads: dict[str, ThreadRecord] = {}
        self.runs: dict[str, RunRecord] = {}
        self._message_seq = 0

    def _ns(self, config: MockConfig) -> str:
        return id_namespace(config.seed, self._salt)

    # --- assistants (only so that ordinary client code runs unchanged) ---

    def create_assistant(self, config: MockConfig, body: Mapping[str, Any], now: float) -> Any:
        model = body.get("model")
        if not isinstance(model, str):
            raise bad_request("Missing required parameter: 'model'.", "model")
        assistant_id = make_id("asst", self._ns(config), len(self.assistants))
        assistant = {
            "id": assistant_id,
            "object": "assistant",
            "created_at": int(now),
            "name": optional_str(body, "name"),
            "description": optional_str(body, "description"),
            "model": model,
            "instructions": optional_str(body, "instructions"),
            "tools": require_list(body, "tools"),
            "metadata": check_metadata(body.get("metadata")),
            "tool_resources": body.get("tool_resources"),
            "temperature": body.get("temperature", 1.0),
            "top_p": body.get("top_p", 1.0),
            "response_format": body.get("response_format", "auto"),
        }
        self.assistants[assistant_id] = assistant
        return assistant

    def get_assistant(self, assistant_id: str) -> Any:
        if assistant_id not in self.assistants:
            raise not_found(f"No assistant found with id '{assistant_id}'.")
        return self.assistants[assistant_id]

    # --- threads and messages ---

    def _thread(self, thread_id: str) -> ThreadRecord:
        thread = self.threads.get(thread_id)
        if thread is None:
            raise not_found(f"No thread found with id '{thread_id}'.")
        return thread

    def _new_thread(self, config: MockConfig, body: Mapping[str, Any], now: float) -> ThreadRecord:
        thread_id = make_id("thread", self._ns(config), len(self.threads))
        thread = ThreadRecord(
            id=thread_id,
            created_at=now,
            metadata=check_metadata(body.get("metadata")),
            tool_resources=body.get("tool_resources"),
        )
        messages = require_list(body, "messages")
        records = [self._new_message(config, thread, raw, now) for raw in messages]
        self.threads[thread_id] = thread
        thread.messages.extend(records)
        return thread

    def _new_message(
        self, config: MockConfig, thread: ThreadRecord, raw: Any, now: float
    ) -> MessageRecord:
        if not isinstance(raw, Mapping):
            raise bad_request("Each message must be an object.", "messages")
        role = raw.get("role")
        if role not in ("user", "assistant"):
            raise bad_request("Invalid 'role': expected 'user' or 'assistant'.", "role")
        content = raw.get("content")
        if not (isinstance(content, str) or _is_part_list(content)):
            raise bad_request("Invalid 'content': expected a string or a list of parts.", "content")
        self._message_seq += 1
        return MessageRecord(
            id=make_id("msg", self._ns(config), self._message_seq),
            thread_id=thread.id,
            created_at=now,
            order=self._message_seq,
            role=role,
            content=content_blocks(content),
            metadata=check_metadata(raw.get("metadata")),
            attachments=list(raw.get("attachments") or []),
        )

    def create_thread(self, config: MockConfig, body: Mapping[str, Any], now: float) -> Any:
        return thread_json(self._new_thread(config, body, now))

    def get_thread(self, thread_id: str) -> Any:
        return thread_json(self._thread(thread_id))

    def create_message(
        self, config: MockConfig, thread_id: str, body: Mapping[str, Any], now: float
    ) -> Any:
        thread = self._thread(thread_id)
        active = self._active_run(thread, now)
        if active is not None:
            raise bad_request(f"Can't add messages to {thread_id} while a run {active} is active.")
        message = self._new_message(config, thread, body, now)
        thread.messages.append(message)
        return message_json(message)

    def list_messages(self, thread_id: str, query: Mapping[str, str], now: float) -> Any:
        thread = self._thread(thread_id)
        self._materialize(thread, now)
        run_id = query.get("run_id")
        page, has_more = paginate(
            thread.messages,
            lambda m: m.id,
            query,
            keep=lambda m: run_id is None or m.run_id == run_id,
        )
        return list_object([message_json(m) for m in page], has_more)

    def get_message(self, thread_id: str, message_id: str, now: float) -> Any:
        thread = self._thread(thread_id)
        self._materialize(thread, now)
        for message in thread.messages:
            if message.id == message_id:
                return message_json(message)
        raise not_found(f"No message found with id '{message_id}'.")

    def _materialize(self, thread: ThreadRecord, now: float) -> None:
        """Add the reply of every run that finished since the thread was last read."""
        added = False
        for run_id in thread.run_ids:
            if run_id in thread.settled_runs:
                continue
            run = self.runs[run_id]
            snap = snapshot(run.job, now)
            if not snap.terminal:
                continue
            thread.settled_runs.add(run_id)
            if snap.status not in ("completed", "incomplete") or snap.terminal_at is None:
                continue
            reply = run_reply(run)
            incomplete = snap.status == "incomplete"
            self._message_seq += 1
            thread.messages.append(
                MessageRecord(
                    id=make_id("msg", run.ids, "reply", run_id),
                    thread_id=thread.id,
                    created_at=snap.terminal_at,
                    order=self._message_seq,
                    role="assistant",
                    content=content_blocks(partial_reply(reply) if incomplete else reply),
                    run_id=run_id,
                    assistant_id=run.assistant_id,
                    status=snap.status,
                    completed_at=None if incomplete else snap.terminal_at,
                    incomplete_at=snap.terminal_at if incomplete else None,
                    incomplete_reason="max_tokens" if incomplete else None,
                )
            )
            added = True
        if added:
            thread.messages.sort(key=lambda m: (m.created_at, m.order))

    # --- runs ---

    def _active_run(self, thread: ThreadRecord, now: float) -> str | None:
        if not thread.run_ids:
            return None
        last = self.runs[thread.run_ids[-1]]
        return None if snapshot(last.job, now).terminal else last.job.id

    def _run(self, thread_id: str, run_id: str) -> RunRecord:
        self._thread(thread_id)
        run = self.runs.get(run_id)
        if run is None or run.thread_id != thread_id:
            raise not_found(f"No run found with id '{run_id}'.")
        return run

    def create_and_run(
        self, config: MockConfig, body: Mapping[str, Any], now: float, seq: int
    ) -> tuple[Any, JobRecord]:
        reject_stream(body)
        _require_assistant_id(body)
        raw_thread = body.get("thread") or {}
        if not isinstance(raw_thread, Mapping):
            raise bad_request("Invalid 'thread': expected an object.", "thread")
        metadata = check_metadata(body.get("metadata"))  # validate before creating anything
        thread = self._new_thread(config, raw_thread, now)
        return self._start_run(config, thread, body, metadata, now, seq)

    def create_run(
        self, config: MockConfig, thread_id: str, body: Mapping[str, Any], now: float, seq: int
    ) -> tuple[Any, JobRecord]:
        reject_stream(body)
        _require_assistant_id(body)
        thread = self._thread(thread_id)
        active = self._active_run(thread, now)
        if active is not None:
            raise bad_request(f"Thread {thread_id} already has an active run {active}.")
        metadata = check_metadata(body.get("metadata"))
        extra = [
            self._new_message(config, thread, raw, now)
            for raw in require_list(body, "additional_messages")
        ]
        thread.messages.extend(extra)  # only once every part of the request is valid
        return self._start_run(config, thread, body, metadata, now, seq)

    def _start_run(
        self,
        config: MockConfig,
        thread: ThreadRecord,
        body: Mapping[str, Any],
        metadata: dict[str, str],
        now: float,
        seq: int,
    ) -> tuple[Any, JobRecord]:
        self._materialize(thread, now)
        assistant_id = str(body["assistant_id"])
        assistant = self.assistants.get(assistant_id, {})
        instructions = body.get("instructions") or assistant.get("instructions") or ""
        if body.get("additional_instructions"):
            instructions = f"{instructions}\n{body['additional_instructions']}".strip()
        users = [m for m in thread.messages if m.role == "user"]
        tools = _run_tools(config, body, assistant)
        function = called_function(tools, config.tool_name)
        job = JobRecord(
            id=make_id("run", self._ns(config), seq),
            kind="run",
            seq=seq,
            draws=draw(config, "run", seq, tools=function is not None, model=assistant_id),
            timing=Timing(
                created_at=now,
                queue_delay_s=config.queue_delay_s,
                action_expiry_s=config.action_expiry_s,
                run_expiry_s=config.run_expiry_s,
                cancel_delay_s=config.cancel_delay_s,
            ),
            prompt=message_text(users[-1].content) if users else "",
            metadata=metadata,
            labels={**thread.metadata, **metadata},
        )
        run = RunRecord(
            job=job,
            thread_id=thread.id,
            assistant_id=assistant_id,
            model=str(body.get("model") or assistant.get("model") or config.model),
            instructions=str(instructions),
            tools=tools,
            tool_name=function or config.tool_name,
            ids=self._ns(config),
            echo={
                k: body[k] if body.get(k) is not None else v for k, v in _RUN_ECHO_DEFAULTS.items()
            },
        )
        self.runs[job.id] = run
        thread.run_ids.append(job.id)
        snap = snapshot(job, now)
        observe(job, snap, now, check=False)
        return run_json(run, snap), job

    def list_runs(self, thread_id: str, query: Mapping[str, str], now: float) -> Any:
        thread = self._thread(thread_id)
        runs = [self.runs[run_id] for run_id in thread.run_ids]
        page, has_more = paginate(runs, lambda r: r.job.id, query)
        return list_object([run_json(r, snapshot(r.job, now)) for r in page], has_more)

    def get_run(self, thread_id: str, run_id: str, now: float) -> Any:
        run = self._run(thread_id, run_id)
        snap = snapshot(run.job, now)
        observe(run.job, snap, now, check=True)
        return run_json(run, snap)

    def submit_tool_outputs(
        self, thread_id: str, run_id: str, body: Mapping[str, Any], now: float
    ) -> Any:
        reject_stream(body)
        run = self._run(thread_id, run_id)
        snap = snapshot(run.job, now)
        if snap.status != "requires_action" or snap.pending_round is None:
            raise bad_request(f'Runs in status "{snap.status}" do not accept tool outputs.')
        outputs = require_list(body, "tool_outputs")
        expected = [tool_call_id(run, snap.pending_round)]
        given: list[str] = []
        texts: list[str] = []
        for item in outputs:
            if not isinstance(item, Mapping) or not isinstance(item.get("tool_call_id"), str):
                raise bad_request("Each tool output needs a 'tool_call_id'.", "tool_outputs")
            given.append(item["tool_call_id"])
            texts.append(str(item.get("output") or ""))
        if sorted(given) != sorted(expected):
            raise bad_request(
                f"Expected tool outputs for call_ids {expected}, got {given}.", "tool_outputs"
            )
        run.job.submissions.append(now)
        run.job.tool_outputs.append("; ".join(texts))
        snap = snapshot(run.job, now)
        observe(run.job, snap, now, check=False)
        return run_json(run, snap)

    def cancel_run(self, thread_id: str, run_id: str, now: float) -> Any:
        run = self._run(thread_id, run_id)
        snap = snapshot(run.job, now)
        if snap.terminal or snap.status == "cancelling":
            raise bad_request(f"Cannot cancel run with status '{snap.status}'.")
        run.job.cancel_at = now
        snap = snapshot(run.job, now)
        observe(run.job, snap, now, check=False)
        return run_json(run, snap)


def _run_tools(
    config: MockConfig, body: Mapping[str, Any], assistant: Mapping[str, Any]
) -> list[Any]:
    """The tools a run may call: the request's (even ``[]``), else its assistant's.

    An assistant id the mock never created stands for an assistant it cannot see; the mock
    assumes that one declares ``tool_name`` (and shows it in the run's ``tools``), so runs
    on made-up assistants still exercise tool rounds. A run whose ``tools`` are empty never
    asks for a call, as on the real API.
    """
    if body.get("tools") is not None:
        return require_list(body, "tools")
    if assistant:
        return list(assistant.get("tools") or [])
    return [
        {
            "type": "function",
            "function": {
                "name": config.tool_name,
                "description": "The mock's stand-in tool: echoes the query.",
                "parameters": {
                    "type": "object",
                    "properties": {"query": {"type": "string"}, "round": {"type": "integer"}},
                    "required": ["query", "round"],
                },
                "strict": False,
            },
        }
    ]


def _require_assistant_id(body: Mapping[str, Any]) -> None:
    if not isinstance(body.get("assistant_id"), str):
        raise bad_request("Missing required parameter: 'assistant_id'.", "assistant_id")


def _is_part_list(content: Any) -> bool:
    def valid(part: Any) -> bool:
        if not isinstance(part, Mapping) or not isinstance(part.get("type"), str):
            return False
        return part["type"] != "text" or isinstance(part.get("text"), str)

    return isinstance(content, list) and all(valid(p) for p in content)
