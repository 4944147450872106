"""Authentication (401), as OpenAI answers it: a missing key and a wrong key differ.

Only when ``MockConfig.api_key`` is set; ``None`` accepts any key, even none. The mock never
echoes a key, not even masked (OpenAI masks it: ``Incorrect API key provided: sk-abc***xyz``).
"""

from __future__ import annotations

from typing import Any

from ._apierror import error_body

__all__ = ["INCORRECT_KEY_MESSAGE", "MISSING_KEY_MESSAGE", "auth_error"]

MISSING_KEY_MESSAGE = (
    "You didn't provide an API key. You need to provide your API key in an Authorization "
    "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field "
    "(with blank username) if you're accessing the API from your browser and are prompted for "
    "a username and password. You can obtain an API key from "
    "https://platform.openai.com/account/api-keys."
)
INCORRECT_KEY_MESSAGE = (
    "Incorrect API key provided. You can find your API key at "
    "https://platform.openai.com/account/api-keys."
)


def auth_error(expected: str | None, authorization: str | None) -> dict[str, Any] | None:
    """The 401 body for this ``authorization`` header, or None if it may pass."""
    if expected is None:
        return None
    scheme, _, token = (authorization or "").strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        # No key at all (no header, another scheme, an empty bearer): OpenAI's own text,
        # with code null.
        return error_body(MISSING_KEY_MESSAGE)
    if token != expected:
        return error_body(INCORRECT_KEY_MESSAGE, code="invalid_api_key")
    return None
