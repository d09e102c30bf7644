"""Store a batch so that one record's failure costs only that record.

A batch goes in one call, in a savepoint. If that call raises, each record is stored alone in its
own savepoint and a record that still raises is reported by its index with the error's class,
while the others are kept. A lost connection, a deadlock or a serialization failure
(OperationalError, InterfaceError) is no fault of a record, nor is another writer storing one of the
records first meanwhile (StoredMeanwhile, once its own retries are spent): it is raised, and the
whole delivery is tried again later.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session

from integration.contract import Outcome

logger = logging.getLogger(__name__)

R = TypeVar("R")


class StoredMeanwhile(Exception):
    """Another writer stored one of a batch's records for the first time after the batch looked for
    it: the batch does not know what that writer stored (the contact it gave, above all), so the
    batch must be stored again, which reads it."""


TRANSIENT = (OperationalError, InterfaceError, StoredMeanwhile)


def ingest_isolated(
    session: Session, ingest: Callable[[Sequence[R]], Outcome], records: Sequence[R]
) -> Outcome:
    """Ingest `records` together, else one by one; skipped entries carry the batch index."""
    if not records:
        return Outcome()
    try:
        with session.begin_nested():
            return ingest(records)
    except TRANSIENT:
        raise
    except Exception as exc:  # noqa: BLE001 - the records are tried one by one next
        if len(records) == 1:
            return _refused(0, exc)
        logger.info("a batch of %s records failed, storing them one by one: %s", len(records), type(exc))
    outcome = Outcome()
    for index, record in enumerate(records):
        try:
            with session.begin_nested():
                one = ingest([record])
        except TRANSIENT:
            raise
        except Exception as exc:  # noqa: BLE001 - reported by index, the others go on
            one = _refused(index, exc)
        else:
            one.skipped = [{**s, "index": index} if "index" in s else s for s in one.skipped]
        outcome.merge(one)
    return outcome


def _refused(index: int, exc: Exception) -> Outcome:
    # The class only: a message may quote the record's personal data.
    logger.warning("record %s of a batch refused while storing: %s", index, type(exc).__name__)
    reason: dict[str, Any] = {"index": index, "reason": f"could not be stored ({type(exc).__name__})"}
    return Outcome(skipped=[reason])
