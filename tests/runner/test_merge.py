"""``batchpoll merge``: each item exactly once, what is missing named; ``--shard`` rules."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from batchpoll.cli._main import cli
from batchpoll.runner import shard_of

from ._helpers import prompts, write_lines


def shard_files(
    tmp_path: Path, n: int, ids: list[str], skip: frozenset[str] = frozenset()
) -> list[Path]:
    paths = []
    for k in range(1, n + 1):
        mine = [i for i in ids if shard_of(i, n) == k and i not in skip]
        lines = [{"id": i, "status": "completed", "output_text": f"v{i}"} for i in mine]
        paths.append(write_lines(tmp_path / f"out.shard-{k}-of-{n}.jsonl", lines))
    return paths


def merge(*args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(cli, ["merge", *args])
    return r.exit_code, r.stdout, r.stderr


def test_the_stable_hash_spreads_ids_over_the_shards() -> None:
    counts = [0, 0, 0]
    for i in range(3000):
        counts[shard_of(f"p{i}", 3) - 1] += 1
    assert all(900 < c < 1100 for c in counts), counts
    assert shard_of("p7", 3) == shard_of("p7", 3)  # no per-process salt (hash() has one)


def test_merge_joins_the_shards_each_item_once_in_the_inputs_ids(tmp_path: Path) -> None:
    ids = [f"p{i}" for i in range(30)]
    write_lines(tmp_path / "in.jsonl", prompts(30))
    files = shard_files(tmp_path, 3, ids)
    # A rerun appended a newer line for p1: the last one counts.
    k = shard_of("p1", 3)
    with files[k - 1].open("a") as f:
        f.write(json.dumps({"id": "p1", "status": "failed"}) + "\n")
    out = tmp_path / "out.jsonl"
    code, stdout, _ = merge(*map(str, files), "-o", str(out), "--input", str(tmp_path / "in.jsonl"))
    assert code == 0, stdout
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(r["id"] for r in records) == sorted(ids)
    assert next(r for r in records if r["id"] == "p1")["status"] == "failed"


def test_merge_names_missing_shards_and_items(tmp_path: Path) -> None:
    ids = [f"p{i}" for i in range(30)]
    write_lines(tmp_path / "in.jsonl", prompts(30))
    files = shard_files(tmp_path, 3, ids, skip=frozenset({"p4"}))
    out = tmp_path / "out.jsonl"
    given = [str(files[0]), str(files[2])]
    code, _, stderr = merge(*given, "-o", str(out), "--input", str(tmp_path / "in.jsonl"))
    assert code == 1
    assert "shards missing: 2/3" in stderr
    assert "in no shard" in stderr
    assert "'p4'" in stderr
    assert out.exists()  # what there is, written


def test_merge_refuses_an_item_in_two_files_or_in_the_wrong_shard(tmp_path: Path) -> None:
    ids = [f"p{i}" for i in range(12)]
    files = shard_files(tmp_path, 2, ids)
    stray = next(i for i in ids if shard_of(i, 2) == 1)
    with files[1].open("a") as f:  # shard 2's file holds an item of shard 1
        f.write(json.dumps({"id": stray, "status": "completed"}) + "\n")
    out = tmp_path / "out.jsonl"
    code, _, stderr = merge(*map(str, files), "-o", str(out))
    assert code == 1
    assert f"item {stray!r} belongs in shard 1" in stderr
    assert not out.exists()


@pytest.mark.parametrize(
    ("extra", "text"),
    [
        (["--shard", "2/3"], "--shard needs --budget"),
        (["--shard", "4/3", "--budget", "redis://x:1/0"], "give K/N with 1 <= K <= N"),
        (["--budget", "http://x"], "a Redis URL"),
    ],
)
def test_shard_and_budget_usage_errors(tmp_path: Path, extra: list[str], text: str) -> None:
    write_lines(tmp_path / "in.jsonl", prompts(2))
    args = ["run", str(tmp_path / "in.jsonl"), "-o", str(tmp_path / "o.jsonl"), *extra]
    r = CliRunner().invoke(cli, args, env={"OPENAI_API_KEY": "sk-x"})
    assert r.exit_code == 2, r.output
    assert text in r.output
