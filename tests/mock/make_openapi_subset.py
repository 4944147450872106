"""Regenerate ``openapi_subset.json``: the schemas of OpenAI's OpenAPI spec that the mock's
replies are validated against (tests/mock/test_conformance.py).

    python tests/mock/make_openapi_subset.py path/to/openapi.json [--commit SHA]

The spec is openai/openai-openapi's ``openapi.json`` (OpenAPI 3.1). For every route the mock
serves, the subset keeps the 200 reply's schema and OpenAI's error body (``ErrorResponse``),
plus every schema they reference, with documentation keywords (descriptions, examples,
titles) dropped; validation keywords are kept as they are.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

#: (method, path under /v1) of every route the mock serves.
ROUTES = [
    ("post", "/assistants"),
    ("get", "/assistants/{assistant_id}"),
    ("post", "/threads"),
    ("get", "/threads/{thread_id}"),
    ("post", "/threads/runs"),
    ("post", "/threads/{thread_id}/messages"),
    ("get", "/threads/{thread_id}/messages"),
    ("get", "/threads/{thread_id}/messages/{message_id}"),
    ("post", "/threads/{thread_id}/runs"),
    ("get", "/threads/{thread_id}/runs"),
    ("get", "/threads/{thread_id}/runs/{run_id}"),
    ("post", "/threads/{thread_id}/runs/{run_id}/submit_tool_outputs"),
    ("post", "/threads/{thread_id}/runs/{run_id}/cancel"),
    ("post", "/responses"),
    ("get", "/responses/{response_id}"),
    ("post", "/responses/{response_id}/cancel"),
    ("post", "/files"),
    ("get", "/files"),
    ("get", "/files/{file_id}"),
    ("delete", "/files/{file_id}"),
    ("get", "/files/{file_id}/content"),
    ("post", "/batches"),
    ("get", "/batches"),
    ("get", "/batches/{batch_id}"),
    ("post", "/batches/{batch_id}/cancel"),
    ("post", "/fine_tuning/jobs"),
    ("get", "/fine_tuning/jobs"),
    ("get", "/fine_tuning/jobs/{fine_tuning_job_id}"),
    ("post", "/fine_tuning/jobs/{fine_tuning_job_id}/cancel"),
    ("post", "/vector_stores/{vector_store_id}/file_batches"),
    ("get", "/vector_stores/{vector_store_id}/file_batches/{batch_id}"),
    ("post", "/vector_stores/{vector_store_id}/file_batches/{batch_id}/cancel"),
]
ERROR_SCHEMA = "ErrorResponse"
_DOC_KEYWORDS = {"description", "example", "examples", "title", "deprecated", "default"}
OUT = Path(__file__).with_name("openapi_subset.json")


def _strip(node: Any) -> Any:
    if isinstance(node, dict):
        kept: dict[str, Any] = {}
        for key, value in node.items():
            if key in _DOC_KEYWORDS or key.startswith("x-"):
                continue
            if key in ("enum", "required"):
                kept[key] = value
            elif key == "properties":  # property names are data, not keywords
                kept[key] = {name: _strip(sub) for name, sub in value.items()}
            else:
                kept[key] = _strip(value)
        return kept
    if isinstance(node, list):
        return [_strip(v) for v in node]
    return node


def _refs(node: Any, found: set[str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            found.add(ref.rsplit("/", 1)[-1])
        for key, value in node.items():
            if key not in ("enum", "required"):
                _refs(value, found)
    elif isinstance(node, list):
        for value in node:
            _refs(value, found)


def subset(spec: dict[str, Any], commit: str | None) -> dict[str, Any]:
    schemas = spec["components"]["schemas"]
    routes: dict[str, str | None] = {}
    for method, path in ROUTES:
        reply = spec["paths"][path][method]["responses"]["200"]
        schema = reply["content"]["application/json"]["schema"]
        # None: the reply is not a JSON object (a file's content, whatever the file holds).
        ref = schema.get("$ref")
        routes[f"{method.upper()} /v1{path}"] = None if ref is None else ref.rsplit("/", 1)[-1]
    todo = [*(name for name in routes.values() if name is not None), ERROR_SCHEMA]
    kept: dict[str, Any] = {}
    while todo:
        name = todo.pop()
        if name in kept:
            continue
        kept[name] = _strip(schemas[name])
        found: set[str] = set()
        _refs(kept[name], found)
        todo.extend(sorted(found - kept.keys()))
    return {
        "source": "https://github.com/openai/openai-openapi (openapi.json)",
        "openapi": spec["openapi"],
        "version": spec["info"]["version"],
        "commit": commit,
        "routes": routes,
        "error": ERROR_SCHEMA,
        "schemas": dict(sorted(kept.items())),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("spec", type=Path, help="openai-openapi's openapi.json")
    parser.add_argument("--commit", help="the openai-openapi commit it was taken from")
    args = parser.parse_args()
    spec = json.loads(args.spec.read_text())
    data = subset(spec, args.commit)
    OUT.write_text(json.dumps(data, indent=1, sort_keys=False) + "\n")
    print(f"{OUT}: {len(data['schemas'])} schemas, spec {data['version']}")


if __name__ == "__main__":
    main()
