"""``batchpoll merge OUT.shard-*.jsonl -o OUT.jsonl``: the outputs of a sharded run, as one.

Each shard file keeps each of its items' last line (a rerun appends). The merge refuses, and
writes nothing, when an item is in two shard files or in the file of a shard it does not hash
to (files of different runs mixed up); it writes what there is and exits 1 when shards, or
(with ``--input``) items, are missing, naming them.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import click

from ..runner import EXIT_FAILED, EXIT_USAGE, InputError, ItemDefaults, scan_input, shard_of
from ._execute import fail

__all__ = ["merge"]

_TAG = re.compile(r"\.shard-(\d+)-of-(\d+)(?:\.|$)")
_SHOWN = 20


def _records(path: Path) -> dict[str, str]:
    """id -> its last line in the file."""
    out: dict[str, str] = {}
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                record: Any = json.loads(line)
                key = str(record["id"])
            except (ValueError, TypeError, KeyError):
                fail(f"{path}: line {n} is not a result line (JSON with an 'id')", EXIT_USAGE)
            out.pop(key, None)
            out[key] = line.rstrip("\n")
    return out


def _names(keys: list[str]) -> str:
    more = f" and {len(keys) - _SHOWN} more" if len(keys) > _SHOWN else ""
    return ", ".join(map(repr, keys[:_SHOWN])) + more


@click.command("merge")
@click.argument("shards", nargs=-1, required=True, type=click.Path(path_type=Path, exists=True))
@click.option("-o", "--output", "output_path", required=True, type=click.Path(path_type=Path))
@click.option(
    "--input",
    "input_path",
    type=click.Path(path_type=Path, exists=True),
    help="The run's input: every one of its items must be in exactly one shard file.",
)
def merge(shards: tuple[Path, ...], output_path: Path, input_path: Path | None) -> None:
    """Join the outputs of `batchpoll run --shard K/N`: each item exactly once."""
    by_shard: dict[int, Path] = {}
    total: int | None = None
    for path in shards:
        m = _TAG.search(path.name)
        if m is None:
            fail(f"{path}: not a shard output (its name has no .shard-K-of-N)", EXIT_USAGE)
        k, n = int(m.group(1)), int(m.group(2))
        if total is not None and n != total:
            fail(f"{path}: a shard of {n}, the others are of {total}", EXIT_USAGE)
        if k in by_shard:
            fail(f"shard {k}/{n} given twice: {by_shard[k]} and {path}", EXIT_USAGE)
        total = n
        by_shard[k] = path
    assert total is not None
    lines: dict[str, str] = {}
    where: dict[str, Path] = {}
    twice: list[str] = []
    for k in sorted(by_shard):
        path = by_shard[k]
        for key, line in _records(path).items():
            if shard_of(key, total) != k:
                fail(f"{path}: item {key!r} belongs in shard {shard_of(key, total)}", EXIT_FAILED)
            if key in lines:
                twice.append(f"{key} ({where[key].name}, {path.name})")
            lines[key] = line
            where[key] = path
    if twice:
        fail(f"items in more than one shard file: {_names(twice)}; nothing written", EXIT_FAILED)
    order = list(lines)
    problems = []
    missing_shards = [k for k in range(1, total + 1) if k not in by_shard]
    if missing_shards:
        problems.append(f"shards missing: {', '.join(f'{k}/{total}' for k in missing_shards)}")
    if input_path is not None:
        try:
            expected = scan_input(input_path, ItemDefaults()).keys
        except InputError as exc:
            fail(str(exc), EXIT_USAGE)
        missing = sorted(expected - lines.keys())
        extra = sorted(lines.keys() - expected)
        if missing:
            problems.append(f"{len(missing)} items of the input in no shard: {_names(missing)}")
        if extra:
            problems.append(f"{len(extra)} items not in the input: {_names(extra)}")
    tmp = output_path.with_name(output_path.name + ".merging")
    with tmp.open("w", encoding="utf-8") as f:
        for key in order:
            f.write(lines[key] + "\n")
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(output_path)
    click.echo(f"{len(order)} items from {len(by_shard)} of {total} shards -> {output_path}")
    if problems:
        for problem in problems:
            click.echo(f"incomplete: {problem}", err=True)
        raise SystemExit(EXIT_FAILED)
