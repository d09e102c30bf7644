"""Segment export in flat memory: the export job's peak memory at 100,000 and at 1,000,000 contacts.

    python -m bench.export [--contacts 1000000] [--database-url postgresql://...]

Generates contacts with set-based SQL (a throwaway PostgreSQL unless a URL is given), saves a
segment of everyone, and runs the export job in a separate process twice — on a segment of the
first tenth and on everyone — sampling its resident memory. Flat memory means the two peaks are
about equal. Beside it, PostgreSQL's own `COPY (…) TO STDOUT` of the same columns is the ceiling
for the time.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bench.servers import throwaway_postgres
from integration.accounts import create_account
from integration.audiences import exports, segments
from integration.store import session_scope
from integration.store.db import upgrade

COPY_QUERY = "SELECT id, email, first_name, last_name, tags FROM contacts"


def generate(url: str, contacts: int) -> None:
    """Contacts tagged `vip`, the first tenth also `tenth`; one in a hundred with a formula-like name."""
    with session_scope(url) as session:
        create_account(session, "Bench", "Europe/Prague")
    with session_scope(url) as session:
        session.execute(
            text(f"""INSERT INTO contacts (account_id, email, first_name, last_name, subscription_status,
                                           first_seen_at, tags, created_at, updated_at)
                     SELECT 1, 'c' || g || '@example.com', 'Name' || g,
                            CASE WHEN g % 100 = 0 THEN '=cmd|x' ELSE 'Ok' END, 'subscribed', now(),
                            CASE WHEN g <= {contacts // 10} THEN '["vip", "tenth"]' ELSE '["vip"]' END::jsonb,
                            now(), now()
                     FROM generate_series(1, {contacts}) g""")
        )
        session.execute(text("ANALYZE"))


def run_export(url: str, export_id: int) -> tuple[float, float]:
    """Run the export job in its own process; return (seconds, peak RSS in MB)."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-c", f"from integration import exports; exports.write_export({url!r}, {export_id})"]
    )
    watched = psutil.Process(process.pid)
    peak = 0
    while process.poll() is None:
        try:
            peak = max(peak, watched.memory_info().rss)
        except psutil.Error:
            pass
        time.sleep(0.02)
    if process.returncode:
        raise RuntimeError("the export failed")
    return time.perf_counter() - started, peak / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmp:
        url = args.database_url or throwaway_postgres(Path(tmp))
        url = make_url(url).set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
        upgrade(url)
        generate(url, args.contacts)
        results = []
        for name, tag in (("tenth", "tenth"), ("everyone", "vip")):
            with session_scope(url) as session:
                started = time.perf_counter()
                segment = segments.save(session, 1, name=name, raw_filter={"tag": tag})
                refreshed = time.perf_counter() - started
                export = exports.request_export(session, 1, segment.id)
                export_id, members = export.id, segment.members_count
            seconds, peak = run_export(url, export_id)
            with session_scope(url) as session:
                size = session.execute(
                    text("SELECT rows, bytes FROM segment_exports WHERE id = :i"), {"i": export_id}
                ).one()
            results.append((name, members, refreshed, seconds, peak, size))
        conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        started = time.perf_counter()
        subprocess.run(
            ["psql", conninfo, "-q", "-c", f"COPY ({COPY_QUERY}) TO STDOUT"],
            stdout=subprocess.DEVNULL,
            check=True,
        )
        copy_seconds = time.perf_counter() - started
    print(f"export: {args.contacts:,} contacts, PostgreSQL")  # noqa: T201 - the benchmark's report
    for name, members, refreshed, seconds, peak, (rows, size) in results:
        print(  # noqa: T201
            f"  {name}: {members:,} members (segment saved in {refreshed:.1f} s); "
            f"export job {seconds:.1f} s, "
            f"{rows:,} rows, {size / 2**20:.0f} MB of CSV, peak RSS {peak:.0f} MB"
        )
    print(f"  psql COPY of everyone's columns (ceiling): {copy_seconds:.1f} s")  # noqa: T201


if __name__ == "__main__":
    main()
