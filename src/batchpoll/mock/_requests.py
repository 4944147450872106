"""Validation of request bodies, with the real API's 400 messages where they matter."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ._apierror import ApiError, bad_request

__all__ = [
    "check_metadata",
    "lenient_body",
    "optional_str",
    "parse_body",
    "reject_stream",
    "require_list",
]

_MAX_METADATA_KEYS = 16
_MAX_KEY_CHARS = 64
_MAX_VALUE_CHARS = 512


def check_metadata(raw: Any) -> dict[str, str]:
    """OpenAI's metadata rules: at most 16 pairs, string keys ≤ 64 and values ≤ 512 chars."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise bad_request("Invalid 'metadata': expected an object.", "metadata")
    if len(raw) > _MAX_METADATA_KEYS:
        raise bad_request(
            f"Invalid 'metadata': too many properties. Expected at most {_MAX_METADATA_KEYS}, "
            f"but got {len(raw)} properties.",
            "metadata",
        )
    for key, value in raw.items():
        if not isinstance(key, str) or len(key) > _MAX_KEY_CHARS:
            raise bad_request(f"Invalid 'metadata': key {key!r} is too long.", "metadata")
        if not isinstance(value, str):
            raise bad_request(f"Invalid 'metadata.{key}': expected a string.", "metadata")
        if len(value) > _MAX_VALUE_CHARS:
            raise bad_request(f"Invalid 'metadata.{key}': string too long.", "metadata")
    return dict(raw)


def optional_str(body: Mapping[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise bad_request(f"Invalid '{name}': expected a string.", name)
    return value


def require_list(body: Mapping[str, Any], name: str) -> list[Any]:
    """An optional list parameter (absent or null → empty)."""
    value = body.get(name)
    if value is None:
        return []
    if not isinstance(value, list):
        raise bad_request(f"Invalid '{name}': expected an array.", name)
    return value


def reject_stream(body: Mapping[str, Any]) -> None:
    if body.get("stream"):
        raise bad_request(
            "The batchpoll mock does not stream: call without stream=True "
            "(use the *_poll helpers or retrieve).",
            "stream",
        )


def lenient_body(raw: bytes) -> Mapping[str, Any]:
    """The body for the limiters (model, token cost); a bad one is the handler's 400 later."""
    try:
        body = json.loads(raw) if raw.strip() else {}
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def parse_body(raw: bytes) -> Mapping[str, Any]:
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise ApiError(
            400,
            "We could not parse the JSON body of your request. (HINT: This likely means you "
            "aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, "
            "but what was sent was not valid JSON.)",
        ) from None
    if not isinstance(body, dict):
        raise ApiError(400, "The request body must be a JSON object.")
    return body
