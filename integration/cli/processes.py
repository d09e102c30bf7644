"""`storepulse worker`, `scheduler` and `serve`: the long-running processes."""

from __future__ import annotations

import click

from integration.cli.common import read_settings
from integration.cli.supervisor import supervise
from integration.operations.memory import keep_loaded_objects
from jobs import schedule
from jobs.worker import run as run_worker


@click.command("worker")
@click.option("--burst", is_flag=True, help="Drain the queues, then exit.")
@click.option("--queue", "queues", multiple=True, help="Queues to work (default: ingest, compute, sync).")
def worker(burst: bool, queues: tuple[str, ...]) -> None:
    """Run a job worker (rides out Redis and database outages; SIGTERM finishes or returns its job)."""
    # A SimpleWorker runs jobs in this process: jobs are short and batched, so a fork per job
    # would cost more than most jobs, and the engine's connection pool stays warm.
    settings = read_settings(quiet=False)
    # The job modules are loaded by now (`jobs.schedule` names every periodic one, and with them
    # the domain): out of the collector's full collections, which a drain otherwise ran over them.
    keep_loaded_objects()
    run_worker(settings, list(queues), burst=burst)


@click.command("scheduler")
def scheduler() -> None:
    """Run the periodic-job scheduler (rides out Redis outages; SIGTERM stops it at once)."""
    schedule.run(read_settings(quiet=False))


@click.command("serve")
@click.option("--port", type=int, default=None, help="Port (default: PORT, 8000).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--workers", "worker_count", type=int, default=1, show_default=True, help="Job workers.")
def serve(port: int | None, host: str, worker_count: int) -> None:
    """Run web, worker and scheduler on this machine until Ctrl-C."""
    supervise(read_settings(quiet=False), host, port, worker_count)
