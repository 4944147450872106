from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from batchpoll._heap import DueHeap, Key


class Item:
    def __init__(self, name: int) -> None:
        self.name = name
        self.heap_key: Key | None = None


def test_pops_in_due_order_and_skips_stale() -> None:
    heap: DueHeap[Item] = DueHeap()
    a, b, c = Item(1), Item(2), Item(3)
    heap.push(a, 5.0)
    heap.push(b, 1.0)
    heap.push(c, 3.0)
    heap.push(b, 10.0)  # reschedule: the entry at 1.0 is now stale
    assert len(heap) == 3
    assert heap.next_due() == 3.0
    assert heap.pop_due(2.0) is None
    assert heap.pop_due(100.0) is c
    assert heap.pop_due(100.0) is a
    heap.discard(b)
    assert heap.pop_due(100.0) is None
    assert len(heap) == 0
    assert heap.next_due() is None


def test_equal_due_times_each_leave_once_before_any_later_one() -> None:
    heap: DueHeap[Item] = DueHeap()
    items = [Item(i) for i in range(9)]
    for item in items:
        heap.push(item, 1.0)
    late = Item(99)
    heap.push(late, 1.5)
    heap.push(items[4], 1.0)  # rescheduled at the same time: its old entry is stale
    popped = [heap.pop_due(2.0) for _ in range(10)]
    assert popped[-1] is late
    assert sorted(i.name for i in popped[:-1] if i is not None) == list(range(9))
    assert heap.pop_due(2.0) is None
    assert heap.entries == 0


def test_a_stale_entry_does_not_keep_its_item_scheduled() -> None:
    heap: DueHeap[Item] = DueHeap()
    a = Item(1)
    heap.push(a, 2.0)
    heap.discard(a)
    heap.push(a, 5.0)
    assert heap.next_due() == 5.0
    assert [key for key, _ in heap.peek_due(10.0, 8)] == [5.0]
    assert heap.pop_due(4.0) is None
    assert heap.pop_due(5.0) is a
    assert len(heap) == 0


def test_compact_keeps_only_live_entries() -> None:
    heap: DueHeap[Item] = DueHeap()
    item = Item(0)
    for i in range(1000):
        heap.push(item, float(1000 - i))
    assert heap.entries <= 4 * len(heap) + 65
    assert heap.pop_due(1e9) is item
    assert heap.pop_due(1e9) is None


@given(st.lists(st.tuples(st.integers(0, 30), st.floats(0, 100)), max_size=300))
def test_matches_a_dict_model(ops: list[tuple[int, float]]) -> None:
    heap: DueHeap[Item] = DueHeap()
    items = {i: Item(i) for i in range(31)}
    model: dict[int, float] = {}
    for name, due in ops:
        if due > 90:
            heap.discard(items[name])
            model.pop(name, None)
        else:
            heap.push(items[name], due)
            model[name] = due
    assert len(heap) == len(model)
    peeked = [item.name for _, item in heap.peek_due(50.0, 1000)]
    assert sorted(peeked) == sorted(n for n, d in model.items() if d <= 50.0)
    popped = []
    while (item := heap.pop_due(1e9)) is not None:
        popped.append((item.name, model[item.name]))
    assert sorted(n for n, _ in popped) == sorted(model)
    dues = [d for _, d in popped]
    assert dues == sorted(dues)
