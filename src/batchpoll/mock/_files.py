"""The Files API, as much as the Batch API needs: upload, retrieve, list, content, delete.

An upload is ``multipart/form-data`` with a ``file`` part and a ``purpose`` field (what the
SDK's ``files.create`` sends). Batch output and error files are created by the mock itself
(``purpose="batch_output"``) when a batch ends. Files list like OpenAI's: newest first,
``purpose`` filter, cursor ``after``, ``limit`` 1..10,000 (default 10,000).
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

from ._apierror import bad_request, not_found
from ._pagination import list_object, paginate

__all__ = ["BATCH_MAX_BYTES", "FileRecord", "FilesStore", "parse_multipart"]

#: OpenAI's limit for a batch input file (and so the mock's, for purpose=batch uploads).
BATCH_MAX_BYTES = 200 * 1024 * 1024
_PURPOSES = ("assistants", "batch", "fine-tune", "vision", "user_data", "evals")
# Batch input files expire after 30 days unless told otherwise (OpenAI's default).
_BATCH_FILE_TTL_S = 30 * 86400


@dataclass(slots=True)
class FileRecord:
    id: str
    filename: str
    purpose: str
    created_at: float
    data: bytes
    expires_at: float | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "file",
            "bytes": len(self.data),
            "created_at": math.floor(self.created_at),
            "expires_at": None if self.expires_at is None else math.floor(self.expires_at),
            "filename": self.filename,
            "purpose": self.purpose,
            "status": "processed",
            "status_details": None,
        }


def parse_multipart(raw: bytes, content_type: str) -> dict[str, tuple[str | None, bytes]]:
    """Form fields of a ``multipart/form-data`` body: name → (filename, bytes)."""
    if not content_type.lower().startswith("multipart/form-data"):
        raise bad_request("Expected a multipart/form-data body with 'file' and 'purpose'.")
    head = f"Content-Type: {content_type}\r\n\r\n".encode("latin-1")
    message = BytesParser(policy=HTTP).parsebytes(head + raw)
    fields: dict[str, tuple[str | None, bytes]] = {}
    if not message.is_multipart():
        raise bad_request("Could not parse the multipart/form-data body.")
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(payload, bytes):
            fields[name] = (part.get_filename(), payload)
    return fields


class FilesStore:
    def __init__(self, namespace: str) -> None:
        self._namespace = namespace
        self.files: dict[str, FileRecord] = {}
        self._order: list[FileRecord] = []  # every file ever made, oldest first (cursors)
        self._seq = 0
        self.uploads_by_filename: Counter[str] = Counter()
        self.downloads: Counter[str] = Counter()

    def _new_id(self) -> str:
        self._seq += 1
        digest = hashlib.sha256(f"{self._namespace}/file/{self._seq}".encode()).hexdigest()
        return f"file-{digest[:24]}"  # OpenAI's file ids use a hyphen, not an underscore

    def add(self, filename: str, purpose: str, data: bytes, now: float) -> FileRecord:
        expires = now + _BATCH_FILE_TTL_S if purpose in ("batch", "batch_output") else None
        record = FileRecord(self._new_id(), filename, purpose, now, data, expires)
        self.files[record.id] = record
        self._order.append(record)
        return record

    def upload(self, raw: bytes, content_type: str, now: float) -> dict[str, Any]:
        fields = parse_multipart(raw, content_type)
        if "purpose" not in fields:
            raise bad_request("Missing required parameter: 'purpose'.", "purpose")
        purpose = fields["purpose"][1].decode("utf-8", "replace").strip()
        if purpose not in _PURPOSES:
            raise bad_request(
                f"Invalid value for 'purpose': {purpose!r}. Expected one of {list(_PURPOSES)}.",
                "purpose",
            )
        if "file" not in fields:
            raise bad_request("Missing required parameter: 'file'.", "file")
        filename, data = fields["file"]
        filename = filename or "upload"
        if purpose == "batch":
            if not filename.endswith(".jsonl"):
                raise bad_request("Invalid file format for Batch API. Must be .jsonl", "file")
            if len(data) > BATCH_MAX_BYTES:
                raise bad_request(
                    f"File is too large: {len(data)} bytes; the Batch API accepts up to "
                    f"{BATCH_MAX_BYTES} bytes.",
                    "file",
                )
        self.uploads_by_filename[filename] += 1
        return self.add(filename, purpose, data, now).as_json()

    def get(self, file_id: str) -> FileRecord:
        record = self.files.get(file_id)
        if record is None:
            raise not_found(f"No such File object: {file_id}")
        return record

    def content(self, file_id: str) -> bytes:
        record = self.get(file_id)
        self.downloads[file_id] += 1
        return record.data

    def delete(self, file_id: str) -> dict[str, Any]:
        self.get(file_id)
        del self.files[file_id]
        return {"id": file_id, "object": "file", "deleted": True}

    def list(self, query: Mapping[str, str]) -> dict[str, Any]:
        purpose = query.get("purpose")
        page, has_more = paginate(
            self._order,
            lambda f: f.id,
            query,
            lambda f: f.id in self.files and (purpose is None or f.purpose == purpose),
            default_limit=10_000,
            max_limit=10_000,
        )
        return list_object([f.as_json() for f in page], has_more)

    def as_json(self) -> dict[str, Any]:
        return {
            "files": len(self.files),
            "uploads": sum(self.uploads_by_filename.values()),
            "uploads_by_filename": dict(sorted(self.uploads_by_filename.items())),
            "downloads": sum(self.downloads.values()),
            "downloads_by_file": dict(sorted(self.downloads.items())),
        }
