"""Every route's replies, errors included, validate against OpenAI's OpenAPI schemas.

The schemas are ``openapi_subset.json``: a subset of openai/openai-openapi's ``openapi.json``
(its version and commit are in the file; ``make_openapi_subset.py`` regenerates it). A 200
must match its route's schema, every other status OpenAI's ``ErrorResponse``. The spec itself
disagrees with the API in a few places (docs/mock.md, "Conformance"); those, and only
those, are waived in ``KNOWN``.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import httpx2
import pytest

from batchpoll.mock import MockConfig, create_app, tool_output_for
from batchpoll.mock._client import BASE_URL, InProcessTransport
from batchpoll.mock._routes import V1_ROUTES

from ._schema import SchemaError, errors
from .conftest import virtual_now

pytestmark = pytest.mark.looptime

SUBSET = json.loads(Path(__file__).with_name("openapi_subset.json").read_text())
SCHEMAS: dict[str, Any] = SUBSET["schemas"]

# Where the spec disagrees with what the API sends (and so with the mock, which follows the
# API): (route, path of the violation, what the spec says).
KNOWN = {
    # Response.store is not in the spec's Response, yet the API returns it, and the spec's
    # ResponseProperties (allOf) does not forbid extra properties: nothing to waive today.
    # ResponseProperties.user: the spec says string; the API sends null when none was given.
    ("Response", "$.user"),
    # ResponseUsage: the spec's Response.usage is not nullable; the API sends null until the
    # response ends (queued, in_progress).
    ("Response", "$.usage"),
    # The Batch API sends null for what has not happened yet (its own reference examples:
    # "output_file_id": null, "in_progress_at": null, "errors": null, ...); the spec types
    # these fields as plain strings, integers and objects. The same inside list pages.
    *(
        (schema, f"{prefix}.{name}")
        for schema, prefix in (("Batch", "$"), ("ListBatchesResponse", "$.data[*]"))
        for name in (
            "errors",
            "output_file_id",
            "error_file_id",
            "in_progress_at",
            "finalizing_at",
            "completed_at",
            "failed_at",
            "expired_at",
            "cancelling_at",
            "cancelled_at",
        )
    ),
    # OpenAIFile.status_details (deprecated): the API sends null, the spec says string.
    ("OpenAIFile", "$.status_details"),
    ("ListFilesResponse", "$.data[*].status_details"),
}


def _where(error: str) -> str:
    """The JSON path of a violation, list indices generalised (``$.data[*].x``)."""
    return re.sub(r"\[\d+\]", "[*]", error.split(":", 1)[0])


class Recorder:
    """Wraps the mock's ASGI app and keeps every /v1 reply: (method, path, status, body)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.replies: list[tuple[str, str, int, bytes]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        status = 0
        body = b""

        async def keep(message: Any) -> None:
            nonlocal status, body
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                body += message.get("body", b"")
            await send(message)

        await self.app(scope, receive, keep)
        if scope["type"] == "http" and scope["path"].startswith("/v1/"):
            self.replies.append((scope["method"], scope["path"], status, body))


def route_of(method: str, path: str) -> str | None:
    for key in SUBSET["routes"]:
        m, template = key.split(" ", 1)
        pattern = re.sub(r"\{[^}]+\}", "[^/]+", template)
        if m == method and re.fullmatch(pattern, path):
            return key
    return None


def violations(method: str, path: str, status: int, body: bytes) -> list[str]:
    route = route_of(method, path)
    schema_name = SUBSET["routes"][route] if status == 200 and route else SUBSET["error"]
    if status == 200 and route is None:
        return [f"{method} {path}: 200 on a route the spec does not have"]
    if status == 200 and schema_name is None:  # a file's content: bytes, not a JSON object
        return []
    found = errors(json.loads(body), {"$ref": f"#/components/schemas/{schema_name}"}, SCHEMAS)
    return [
        f"{method} {path} {status} ({schema_name}) {e}"
        for e in found
        if (schema_name, _where(e)) not in KNOWN
    ]


async def exercise(config: MockConfig, script: Any) -> list[tuple[str, str, int, bytes]]:
    app = create_app(config, clock=virtual_now)
    recorder = Recorder(app)
    http = httpx2.AsyncClient(
        transport=InProcessTransport(recorder),  # type: ignore[arg-type]
        base_url=BASE_URL,
        headers={"authorization": "Bearer sk-test"},
    )
    async with http:
        await script(http)
    return recorder.replies


TOOLS = [{"type": "function", "name": "lookup", "parameters": {"type": "object"}}]


async def assistants_script(http: httpx2.AsyncClient) -> None:
    asst = (await http.post("/v1/assistants", json={"model": "gpt-4o-mini"})).json()
    await http.get(f"/v1/assistants/{asst['id']}")
    await http.get("/v1/assistants/asst_nope")  # 404
    thread = (await http.post("/v1/threads", json={"metadata": {"k": "v"}})).json()
    await http.get(f"/v1/threads/{thread['id']}")
    await http.post(f"/v1/threads/{thread['id']}/messages", json={"role": "user", "content": "m"})
    await http.post(f"/v1/threads/{thread['id']}/messages", json={"role": "x"})  # 400
    runs = []
    for i in range(6):
        body = {
            "assistant_id": "asst_x",
            "thread": {"messages": [{"role": "user", "content": f"q{i}"}]},
        }
        runs.append((await http.post("/v1/threads/runs", json=body)).json())
    run = (await http.post(f"/v1/threads/{thread['id']}/runs", json={"assistant_id": "a"})).json()
    runs.append(run)
    await http.post(f"/v1/threads/{thread['id']}/runs", json={"assistant_id": "a"})  # 400 active
    for _ in range(40):  # queued, in_progress, requires_action, completed, failed, incomplete
        await asyncio.sleep(0.5)
        for r in runs:
            got = (await http.get(f"/v1/threads/{r['thread_id']}/runs/{r['id']}")).json()
            action = got.get("required_action")
            if action is not None:
                call = action["submit_tool_outputs"]["tool_calls"][0]
                outputs = [
                    {
                        "tool_call_id": call["id"],
                        "output": tool_output_for(call["function"]["arguments"]),
                    }
                ]
                url = f"/v1/threads/{r['thread_id']}/runs/{r['id']}/submit_tool_outputs"
                await http.post(url, json={"tool_outputs": outputs})
    last = runs[0]
    await http.post(
        f"/v1/threads/{last['thread_id']}/runs/{last['id']}/submit_tool_outputs",
        json={"tool_outputs": []},
    )  # 400
    await http.get(f"/v1/threads/{last['thread_id']}/runs")
    await http.get(f"/v1/threads/{last['thread_id']}/messages")
    messages = (
        await http.get(f"/v1/threads/{last['thread_id']}/messages?order=asc&limit=1")
    ).json()
    await http.get(f"/v1/threads/{last['thread_id']}/messages/{messages['data'][0]['id']}")
    await http.get(f"/v1/threads/{last['thread_id']}/runs/run_nope")  # 404
    body = {"assistant_id": "a", "thread": {"messages": [{"role": "user", "content": "c"}]}}
    cancel = (await http.post("/v1/threads/runs", json=body)).json()
    url = f"/v1/threads/{cancel['thread_id']}/runs/{cancel['id']}"
    await http.post(url + "/cancel")  # cancelling
    await http.post(url + "/cancel")  # 400
    await asyncio.sleep(1)
    await http.get(url)  # cancelled
    await http.get("/v1/nope")  # 404 unknown URL
    await http.post("/v1/threads", content=b"{not json")  # 400


async def responses_script(http: httpx2.AsyncClient) -> None:
    await http.post("/v1/responses", json={"model": "gpt-4o-mini", "input": "fg"})
    ids = []
    for i in range(8):
        body = {
            "model": "gpt-4o-mini",
            "input": f"q{i}",
            "background": True,
            "tools": TOOLS,
            "metadata": {"i": str(i)},
        }
        ids.append((await http.post("/v1/responses", json=body)).json()["id"])
    cancelled = ids.pop()
    await http.post(f"/v1/responses/{cancelled}/cancel")
    await http.post(f"/v1/responses/{cancelled}/cancel")  # 400
    for _ in range(40):
        await asyncio.sleep(0.5)
        for n, rid in enumerate(ids):
            got = (await http.get(f"/v1/responses/{rid}")).json()
            calls = [o for o in got["output"] if o["type"] == "function_call"]
            if got["status"] == "completed" and calls:
                outputs = [
                    {
                        "type": "function_call_output",
                        "call_id": c["call_id"],
                        "output": tool_output_for(c["arguments"]),
                    }
                    for c in calls
                ]
                body = {
                    "model": "gpt-4o-mini",
                    "background": True,
                    "tools": TOOLS,
                    "previous_response_id": rid,
                    "input": outputs,
                }
                ids[n] = (await http.post("/v1/responses", json=body)).json()["id"]
    await http.post(
        "/v1/responses", json={"model": "m", "previous_response_id": "resp_nope"}
    )  # 400
    await http.post("/v1/responses", json={"input": "no model"})  # 400
    await http.get("/v1/responses/resp_nope")  # 404
    await http.post(f"/v1/responses/{ids[0]}/cancel")  # 400: terminal


async def limits_script(http: httpx2.AsyncClient) -> None:
    def post(chars: int, **kw: Any) -> Any:
        return http.post("/v1/responses", json={"model": "m", "input": "x" * chars}, **kw)

    await post(40)  # 200 (10 tokens)
    await post(40)  # 429 requests per minute (1 per second)
    await asyncio.sleep(1)
    await post(4004)  # 429 Request too large (1,001 tokens > 1,000)
    await post(3200)  # 200 (800 tokens)
    await asyncio.sleep(1)
    await post(3200)  # 429 tokens per minute
    await http.get("/v1/responses/resp_x")  # 404 (the third request of the day)
    await asyncio.sleep(1)
    await http.get("/v1/responses/resp_x")  # 429 requests per day
    await http.post("/_mock/config", json={"quota_exhausted_after": 3})
    await http.get("/v1/responses/resp_x")  # 429 insufficient_quota
    await post(4, headers={"authorization": "Bearer sk-wrong"})  # 401 incorrect key
    await post(4, headers={"authorization": ""})  # 401 missing key


def _jsonl(n: int, url: str = "/v1/responses", **extra: Any) -> bytes:
    lines = []
    for i in range(n):
        body: dict[str, Any] = {"model": "gpt-4o-mini", "input": f"q{i}"}
        if url == "/v1/chat/completions":
            body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"q{i}"}]}
        lines.append({"custom_id": f"c{i}", "method": "POST", "url": url, "body": body, **extra})
    return "\n".join(json.dumps(line) for line in lines).encode()


async def upload(http: httpx2.AsyncClient, data: bytes, name: str = "in.jsonl") -> Any:
    files = {"file": (name, data, "application/jsonl")}
    return await http.post("/v1/files", files=files, data={"purpose": "batch"})


async def batches_script(http: httpx2.AsyncClient) -> None:
    ids = []
    for url in ("/v1/responses", "/v1/chat/completions", "/v1/responses"):
        file_id = (await upload(http, _jsonl(6, url))).json()["id"]
        body = {"input_file_id": file_id, "endpoint": url, "completion_window": "24h"}
        ids.append((await http.post("/v1/batches", json={**body, "metadata": {"p": url}})).json())
    bad = (await upload(http, b'{"custom_id": "x"}\nnot json\n')).json()["id"]
    body = {"input_file_id": bad, "endpoint": "/v1/responses", "completion_window": "24h"}
    failed = (await http.post("/v1/batches", json=body)).json()
    await http.post(f"/v1/batches/{ids[2]['id']}/cancel")  # cancelling, then cancelled
    await upload(http, b"{}", name="in.txt")  # 400: not .jsonl
    await http.post("/v1/files", files={"file": ("a.jsonl", b"{}")})  # 400: no purpose
    await http.post("/v1/batches", json={**body, "input_file_id": "file-nope"})  # 400
    await http.post("/v1/batches", json={**body, "completion_window": "1h"})  # 400
    for _ in range(12):  # validating, in_progress, finalizing, completed, expired, failed
        await asyncio.sleep(0.5)
        for batch in (*ids, failed):
            await http.get(f"/v1/batches/{batch['id']}")
    await http.get("/v1/batches/batch_nope")  # 404
    await http.post(f"/v1/batches/{ids[0]['id']}/cancel")  # 400: ended
    page = (await http.get("/v1/batches?limit=2")).json()
    await http.get(f"/v1/batches?limit=2&after={page['last_id']}")
    done = (await http.get(f"/v1/batches/{ids[0]['id']}")).json()
    for file_id in (done["output_file_id"], done["error_file_id"]):
        await http.get(f"/v1/files/{file_id}")
        await http.get(f"/v1/files/{file_id}/content")
    files = (await http.get("/v1/files?purpose=batch&limit=2")).json()
    await http.get(f"/v1/files?after={files['last_id']}")
    await http.delete(f"/v1/files/{bad}")
    await http.get(f"/v1/files/{bad}")  # 404: deleted
    await http.get("/v1/files/file-nope/content")  # 404


async def long_jobs_script(http: httpx2.AsyncClient) -> None:
    training = (await upload(http, _jsonl(2))).json()["id"]
    jobs = []
    for _ in range(3):
        body = {"model": "gpt-4o-mini", "training_file": training, "metadata": {"k": "v"}}
        jobs.append((await http.post("/v1/fine_tuning/jobs", json=body)).json()["id"])
    await http.post("/v1/fine_tuning/jobs", json={"model": "m", "training_file": "file-x"})
    await http.post(f"/v1/fine_tuning/jobs/{jobs[2]}/cancel")
    vs = "/v1/vector_stores/vs_1/file_batches"
    fb = [(await http.post(vs, json={"file_ids": ["f1", "f2", "f3"]})).json()["id"]]
    fb.append((await http.post(vs, json={"file_ids": ["f4"]})).json()["id"])
    await http.post(vs, json={})  # 400
    await http.post(f"{vs}/{fb[1]}/cancel")
    for _ in range(12):  # validating_files, queued, running, succeeded, failed; in_progress...
        await asyncio.sleep(1)
        for job in jobs:
            await http.get(f"/v1/fine_tuning/jobs/{job}")
        for batch in fb:
            await http.get(f"{vs}/{batch}")
    await http.get("/v1/fine_tuning/jobs?limit=2")
    await http.get("/v1/fine_tuning/jobs/ftjob-nope")  # 404
    await http.post(f"/v1/fine_tuning/jobs/{jobs[0]}/cancel")  # 400: ended
    await http.get(f"{vs}/vsfb_nope")  # 404
    await http.post(f"{vs}/{fb[0]}/cancel")  # 400: ended


async def faults_script(http: httpx2.AsyncClient) -> None:
    for _ in range(12):
        await http.get("/v1/threads/thread_x")


CASES = {
    "assistants": (
        MockConfig(tool_rate=0.5, fail_rate=0.2, incomplete_rate=0.2, seed=3),
        assistants_script,
    ),
    "responses": (
        MockConfig(tool_rate=0.7, fail_rate=0.2, incomplete_rate=0.2, seed=4),
        responses_script,
    ),
    "batches": (
        MockConfig(
            batch_validating_s=1,
            batch_in_progress_s=2,
            batch_finalizing_s=1,
            batch_line_fail_rate=0.3,
            batch_expire_nth=(2,),
            seed=5,
        ),
        batches_script,
    ),
    "long_jobs": (
        MockConfig(fine_tune_duration_s=8, fine_tune_fail_rate=0.5, file_batch_duration_s=4),
        long_jobs_script,
    ),
    "limits": (MockConfig(rpm=60, tpm=1000, rpd=3, api_key="sk-test"), limits_script),
    "faults": (MockConfig(error_rate=1.0, seed=2), faults_script),
}


@pytest.mark.parametrize("case", sorted(CASES))
async def test_replies_conform_to_openais_schemas(case: str) -> None:
    config, script = CASES[case]
    replies = await exercise(config, script)
    problems = [p for reply in replies for p in violations(*reply)]
    assert not problems, "\n".join(problems[:20])
    seen = Counter(str(status) for _, _, status, _ in replies)
    assert seen, "nothing was exercised"


async def test_every_route_and_status_was_exercised() -> None:
    statuses: dict[str, set[int]] = {}
    for config, script in CASES.values():
        for method, path, status, _ in await exercise(config, script):
            statuses.setdefault(route_of(method, path) or "unknown", set()).add(status)
    served = {f"{r.method} {r.template}" for r in V1_ROUTES if r.method is not None}
    assert served == set(SUBSET["routes"])  # the subset names exactly the mock's routes
    assert all(200 in statuses.get(route, set()) for route in served), statuses
    every = set().union(*statuses.values())
    assert {200, 400, 401, 404, 429, 500, 502, 503} <= every


async def test_every_error_kind_was_exercised_and_every_waiver_is_needed() -> None:
    kinds, waived, limits = set(), set(), set()
    for config, script in CASES.values():
        for method, path, status, body in await exercise(config, script):
            route = route_of(method, path)
            if status == 200 and route is not None and SUBSET["routes"][route] is None:
                continue  # a file's content, not JSON
            reply = json.loads(body)
            if status != 200:
                error = reply["error"]
                kinds.add((status, error["type"], error["code"], error["message"][:24]))
                limits |= set(re.findall(r"on \w+ per \w+ \(\w+\)", error["message"]))
            if status == 200 and route is not None:
                name = SUBSET["routes"][route]
                found = errors(reply, {"$ref": f"#/components/schemas/{name}"}, SCHEMAS)
                waived |= {(name, _where(e)) for e in found}
    assert {
        (429, "requests", "rate_limit_exceeded", "Rate limit reached for m"),
        (429, "tokens", "rate_limit_exceeded", "Rate limit reached for m"),
        (429, "tokens", "rate_limit_exceeded", "Request too large for m "),
        (429, "insufficient_quota", "insufficient_quota", "You exceeded your curren"),
        (401, "invalid_request_error", "invalid_api_key", "Incorrect API key provid"),
        (401, "invalid_request_error", None, "You didn't provide an AP"),
        (404, "invalid_request_error", None, "Invalid URL (GET /v1/nop"),
        (400, "invalid_request_error", None, "We could not parse the J"),
        (500, "server_error", None, "The server had an error "),
    } <= kinds
    assert limits == {
        "on requests per min (RPM)",
        "on requests per day (RPD)",
        "on tokens per min (TPM)",
    }
    assert waived == KNOWN  # each waiver is needed, and nothing else is waived


def test_the_validator_rejects_what_the_schemas_forbid() -> None:
    def check(value: Any, name: str) -> list[str]:
        return list(errors(value, {"$ref": f"#/components/schemas/{name}"}, SCHEMAS))

    good = {"error": {"message": "m", "type": "t", "param": None, "code": None}}
    assert check(good, "ErrorResponse") == []
    assert check({"error": {"message": "m", "type": "t", "param": None}}, "ErrorResponse")
    assert check({"error": {**good["error"], "code": 5}}, "ErrorResponse")
    thread = {
        "id": "t",
        "object": "thread",
        "created_at": 1,
        "metadata": {},
        "tool_resources": None,
    }
    assert check(thread, "ThreadObject") == []
    assert check({**thread, "object": "threads"}, "ThreadObject")  # enum
    assert check({**thread, "created_at": "1"}, "ThreadObject")  # type
    with pytest.raises(SchemaError):
        list(errors(1, {"const": 1}, SCHEMAS))
