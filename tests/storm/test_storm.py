"""A small seeded storm round: deliveries while Redis and PostgreSQL go away and a worker is killed.

The round starts its own PostgreSQL and Redis and the Procfile's processes (no supervisor), so it
needs neither TEST_DATABASE_URL nor TEST_REDIS_URL. `python -m bench.storm` runs the same round at
any size; the README's reliability section gives the figures of a 10,000-delivery round.
"""

from __future__ import annotations

import pytest

from bench.storm import ZERO_COUNTS, Options, Storm, render

# Small enough for two minutes on a 2-core machine, long enough that each outage falls mid-stream.
ROUND = Options(
    deliveries=300,
    seed=7,
    rate=15.0,
    redis_at=0.25,
    redis_down=5.0,
    pg_at=0.5,
    pg_down=5.0,
    kill_at=0.7,
    replace_after=1.0,
    give_up=60.0,
    drain_timeout=40.0,
    settle_timeout=15.0,
)


@pytest.mark.slow
def test_a_storm_round_loses_nothing_and_lets_nothing_in() -> None:
    report = Storm(ROUND).run()

    assert report["delivered"] > 0
    assert {k: report[k] for k in ZERO_COUNTS} == dict.fromkeys(ZERO_COUNTS, 0), render(report)
    assert report["timing"]["inbox_empty_seconds_after_last_server_returned"] is not None, render(report)
