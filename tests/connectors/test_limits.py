"""The token bucket's look without taking: the wait until a token, in Redis's clock."""

from __future__ import annotations

import redis

from connectors.limits import TokenBucket


def test_waiting_for_a_token_takes_none(redis_client: redis.Redis) -> None:
    bucket = TokenBucket(redis_client, "test", rate_per_second=0.5, burst=2)
    assert bucket.wait("a") == 0.0
    assert bucket.wait("a") == 0.0  # looking twice took nothing
    assert bucket.take("a").allowed
    assert bucket.take("a").allowed
    waited = bucket.wait("a")
    assert 1.5 < waited <= 2.0  # one token refills in 2 s
    assert not bucket.take("a").allowed
    assert bucket.wait("b") == 0.0  # other names have their own bucket
