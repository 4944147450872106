"""python -m benchmarks quick|full|b1|responses|b2|b3|b4 — see docs/benchmarks.md."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

from ._env import mark_start, progress, quiet
from ._report import Section, write

# Each benchmark gets ``full`` and the sections produced before it in the same run.
Bench = Callable[[bool, list[Section]], list[Section]]


def _b1(full: bool, before: list[Section]) -> list[Section]:
    from . import b1_bulk

    return [b1_bulk.run(n) for n in ((300, 1000) if full else (300,))]


def _responses(full: bool, before: list[Section]) -> list[Section]:
    from . import b1_responses

    return [b1_responses.run("tools"), b1_responses.run("tpm")]


def _b2(full: bool, before: list[Section]) -> list[Section]:
    from . import b2_cold, b2_policy

    return [b2_policy.run(draws=20_000), b2_cold.run()]


def _b3(full: bool, before: list[Section]) -> list[Section]:
    from . import b3_scale

    return [b3_scale.run(full=full)]


def _b4(full: bool, before: list[Section]) -> list[Section]:
    from . import b4_rate

    n = 1000 if full else 300
    alone = None
    if not full:  # the quick set reuses B1's batchpoll run: same workload, same server
        b1 = next((s for s in before if s.key == f"b1_{n}"), None)
        alone = None if b1 is None else b1.data["rows"].get("batchpoll")
    return [b4_rate.run(n=n, alone=alone)]


BENCHES: dict[str, Bench] = {
    "b1": _b1,
    "responses": _responses,
    "b2": _b2,
    "b3": _b3,
    "b4": _b4,
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    ap.add_argument(
        "set",
        choices=["quick", "full", *BENCHES],
        help="quick (< 10 min on 2 cores), full, or one benchmark (quick sizes unless --full)",
    )
    ap.add_argument("--full", action="store_true", help="full sizes for a single benchmark")
    args = ap.parse_args(argv)
    quiet()
    mark_start()
    full = args.set == "full" or args.full
    keys = list(BENCHES) if args.set in ("quick", "full") else [args.set]
    started = time.monotonic()
    sections: list[Section] = []
    for key in keys:
        sections += BENCHES[key](full, sections)
    name = args.set if args.set in ("quick", "full") else f"{args.set}{'-full' if full else ''}"
    path = write(sections, name, time.monotonic() - started, latest=args.set in ("quick", "full"))
    progress(f"wrote {path} in {(time.monotonic() - started) / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
