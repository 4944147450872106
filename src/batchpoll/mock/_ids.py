"""Deterministic object ids: the same seed and request order give the same ids in every run."""

from __future__ import annotations

import hashlib

__all__ = ["make_id"]


def make_id(prefix: str, seed: int, *parts: object) -> str:
    """``prefix_`` + 24 hex digits derived from the seed and ``parts`` (shaped like OpenAI's)."""
    key = "/".join([str(seed), prefix, *(str(p) for p in parts)])
    return f"{prefix}_{hashlib.sha256(key.encode()).hexdigest()[:24]}"
