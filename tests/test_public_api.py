"""The public surface is exactly what ``__all__`` says, and everything in it is importable."""

from __future__ import annotations

import batchpoll


def test_all_names_resolve() -> None:
    for name in batchpoll.__all__:
        assert hasattr(batchpoll, name), name


def test_no_private_or_module_leaks() -> None:
    public = {n for n in dir(batchpoll) if not n.startswith("_")}
    # Subpackages (cli, mock, kinds) are importable on purpose but are not re-exported names.
    public -= {"cli", "mock", "kinds", "runner", "testing", "webhooks"}
    assert public <= set(batchpoll.__all__), public - set(batchpoll.__all__)


def test_exceptions_share_one_root() -> None:
    for name in batchpoll.__all__:
        obj = getattr(batchpoll, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, batchpoll.BatchpollError), name


def test_redis_is_imported_only_by_a_redis_budget() -> None:
    import subprocess
    import sys

    code = "import sys, batchpoll; assert 'redis' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
