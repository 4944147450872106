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


def test_poller_shows_methods_and_read_only_settings_only() -> None:
    import inspect

    import pytest
    from openai import AsyncOpenAI

    poller = batchpoll.Poller(AsyncOpenAI(api_key="sk-test", base_url="http://127.0.0.1:9"), rpm=60)
    members = dict(inspect.getmembers(batchpoll.Poller))
    private = [n for n in members if n.startswith("_") and not n.startswith("__")]
    assert private == ["_engine", "_runner", "_scheduler_ended"]  # two slots and a callback
    for name, member in members.items():
        if name.startswith("_"):
            continue
        assert callable(member) or isinstance(member, property), name
        if isinstance(member, property):
            with pytest.raises(AttributeError):
                setattr(poller, name, None)
    with pytest.raises(AttributeError):
        poller.anything_else = 1  # type: ignore[attr-defined]
