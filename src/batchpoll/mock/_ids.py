"""Object ids shaped like OpenAI's, unique across mock instances unless asked otherwise.

An id is ``prefix_`` + 24 hex digits of a hash of the id *namespace* and the object's place
(its sequence number, its chain, ...). The namespace is the seed plus a random salt drawn when
the mock starts or resets, so two mocks with the same seed never hand out the same thread,
response, webhook or request id; everything simulated (durations, outcomes, reply texts, tool
calls, faults, webhook fates) is drawn from the seed alone and stays deterministic.
``MockConfig.deterministic_ids`` drops the salt: the same seed and request order then give
the same ids in every run (golden tests).
"""

from __future__ import annotations

import hashlib
import secrets

__all__ = ["id_namespace", "make_id", "new_salt", "request_id"]


def new_salt(deterministic: bool) -> str:
    """A fresh instance salt ("" for deterministic ids)."""
    return "" if deterministic else secrets.token_hex(8)


def id_namespace(seed: int, salt: str) -> str:
    return f"{seed}.{salt}" if salt else str(seed)


def make_id(prefix: str, namespace: str | int, *parts: object) -> str:
    """``prefix_`` + 24 hex digits derived from the namespace and ``parts``."""
    key = "/".join([str(namespace), prefix, *(str(p) for p in parts)])
    return f"{prefix}_{hashlib.sha256(key.encode()).hexdigest()[:24]}"


def request_id(salt: str, seq: int) -> str:
    """``x-request-id`` of the ``seq``-th request: its number in hex when deterministic."""
    if not salt:
        return f"req_{seq:024x}"
    return f"req_{hashlib.sha256(f'{salt}/req/{seq}'.encode()).hexdigest()[:32]}"
