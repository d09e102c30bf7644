"""gunicorn's hooks for the web process: every way of starting it loads them, and once a worker
has loaded the app, what the app loaded is out of the garbage collector's sight while what requests
make is still collected."""

from __future__ import annotations

import gc
import re
import shlex
import sys
import weakref
from collections.abc import Iterator

import pytest
from gunicorn.app.wsgiapp import WSGIApplication

from bench.servers import SERVING
from bench.storm import procfile_commands
from integration.cli.supervisor import commands
from integration.web import serving


class _Node:
    """A container object the collector tracks."""

    other: _Node | None = None


def _garbage_cycle() -> weakref.ref[_Node]:
    """Two objects referring to each other and to nothing else: only the collector frees them."""
    first, second = _Node(), _Node()
    first.other, second.other = second, first
    return weakref.ref(first)


def _procfile_web() -> list[str]:
    # The shell's ${NAME:-default}, as a Procfile runner expands it with the variable unset.
    return shlex.split(re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", procfile_commands()["web"]))


def _hook_loaded_by(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> object:
    """The `post_worker_init` gunicorn takes from these arguments (read as its command line is)."""
    monkeypatch.setattr(sys, "argv", argv)
    return WSGIApplication("%(prog)s [OPTIONS] [APP_MODULE]", prog="gunicorn").cfg.post_worker_init


@pytest.mark.parametrize("started_by", ["Procfile", "storepulse serve", "benchmarks"])
def test_every_way_of_starting_the_web_process_loads_the_hooks(
    started_by: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if started_by == "Procfile":
        argv = _procfile_web()
    elif started_by == "storepulse serve":
        web = commands("127.0.0.1", 8000, 1)[0]
        argv = web[web.index("gunicorn") :]
    else:
        argv = ["gunicorn", *SERVING, "integration.web.app:create_app()"]
    assert argv[0] == "gunicorn"
    assert _hook_loaded_by(argv, monkeypatch) is serving.post_worker_init


@pytest.fixture
def unfrozen() -> Iterator[None]:
    """This test process's objects back in the collector's sight afterwards."""
    try:
        yield
    finally:
        gc.unfreeze()


@pytest.mark.usefixtures("unfrozen")
def test_a_worker_keeps_what_the_app_loaded_out_of_the_collectors_sight() -> None:
    loaded = _Node()  # lives as long as the worker, like the app's modules and models
    left_behind = _garbage_cycle()  # what loading the app left for the collector
    assert any(o is loaded for o in gc.get_objects())

    serving.post_worker_init(None)

    assert left_behind() is None  # collected first, not kept for good
    assert not any(o is loaded for o in gc.get_objects())  # a full collection no longer looks at it
    frozen = gc.get_freeze_count()
    assert frozen > 0
    made_by_a_request = _garbage_cycle()
    gc.collect()
    assert made_by_a_request() is None  # what requests make is collected as before
    assert gc.get_freeze_count() == frozen
