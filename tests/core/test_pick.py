"""``_pick.pick_due`` with plain numbers: due order below saturation, value among the
earliest few while checks queue up."""

from __future__ import annotations

from typing import Any, cast

from batchpoll._heap import DueHeap, Key
from batchpoll._pick import pick_due


class Item:
    def __init__(self, name: str) -> None:
        self.name = name
        self.heap_key: Key | None = None


def heap_of(dues: dict[str, float]) -> tuple[DueHeap[Any], dict[str, Item]]:
    heap: DueHeap[Any] = DueHeap()
    items = {name: Item(name) for name in dues}
    for name, due in dues.items():
        heap.push(items[name], due)
    return heap, items


def pick(heap: DueHeap[Any], chances: dict[str, float | None], now: float) -> str | None:
    def chance(job: Any, at: float) -> float | None:
        assert at == now
        return chances.get(cast(Item, job).name)

    job = pick_due(heap, chance, now, heap.next_due())
    return None if job is None else cast(Item, job).name


def test_below_saturation_the_earliest_goes_first_whatever_is_known() -> None:
    heap, _ = heap_of({"a": 10.0, "b": 10.5, "c": 20.0})
    # now - head = 0.5 s: not saturated (the lag is under 1 s)
    assert pick(heap, {"a": 0.1, "b": 0.9}, now=10.5) == "a"
    assert pick(heap, {"b": 0.9}, now=10.5) == "b"
    assert pick(heap, {}, now=10.5) is None  # c is not due
    assert len(heap) == 1


def test_while_saturated_the_likeliest_done_of_the_earliest_goes_first() -> None:
    heap, items = heap_of({"a": 1.0, "b": 2.0, "c": 3.0, "late": 50.0})
    assert pick(heap, {"a": 0.2, "b": 0.9, "c": 0.5}, now=10.0) == "b"
    assert items["b"].heap_key is None  # taken off the heap
    assert len(heap) == 3
    assert pick(heap, {"a": 0.2, "c": 0.5}, now=10.0) == "c"
    assert pick(heap, {"a": 0.2}, now=10.0) == "a"
    assert pick(heap, {"late": 1.0}, now=10.0) is None  # nothing else is due


def test_nothing_known_of_the_earliest_means_due_order() -> None:
    heap, _ = heap_of({"a": 1.0, "b": 2.0})
    assert pick(heap, {"b": 0.99}, now=10.0) == "a"


def test_an_unknown_job_behind_a_known_one_counts_as_even_odds() -> None:
    heap, _ = heap_of({"a": 1.0, "b": 2.0})
    assert pick(heap, {"a": 0.4}, now=10.0) == "b"  # b unknown: 0.5 > 0.4
    heap, _ = heap_of({"a": 1.0, "b": 2.0})
    assert pick(heap, {"a": 0.6}, now=10.0) == "a"


def test_only_the_earliest_few_are_weighed() -> None:
    dues = {f"j{i}": float(i) for i in range(20)}
    heap, _ = heap_of(dues)
    chances: dict[str, float | None] = dict.fromkeys(dues, 0.1)
    chances["j15"] = 1.0  # far down the due order: not among the earliest eight
    chances["j5"] = 0.3
    assert pick(heap, chances, now=100.0) == "j5"


def test_a_stale_top_is_skipped() -> None:
    heap, items = heap_of({"a": 1.0, "b": 2.0, "c": 3.0})
    heap.push(items["a"], 40.0)  # rescheduled: its entry at 1.0 is stale
    assert pick(heap, {"b": 0.1, "c": 0.2, "a": 1.0}, now=10.0) == "c"
