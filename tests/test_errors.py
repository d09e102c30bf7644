"""The error tree: each exception raised on purpose sits on the branch that says what to do next."""

from __future__ import annotations

import pytest

from connectors.addresses import LookupTimedOut
from connectors.csv.reader import CsvError
from connectors.shopify.source import CustomerUnknown
from connectors.times import TimeOutOfRange
from integration import keyset
from integration.analytics.rfm import InvalidScheme
from integration.audiences.exports import LinkInvalid
from integration.audiences.segments import SegmentError
from integration.audiences.sync import SyncError
from integration.campaigns.messages import MessageRefused
from integration.campaigns.sends import UnknownCampaign
from integration.contacts import lists
from integration.errors import (
    IntegrationError,
    InvalidValue,
    NotFound,
    RequestRefused,
    RetriableConnectorError,
    RetryLater,
)
from jobs.ingest import DeliveriesPending


@pytest.mark.parametrize(
    ("error", "branch", "stdlib"),
    [
        (keyset.BadCursor, RequestRefused, ValueError),
        (InvalidScheme, RequestRefused, ValueError),
        (SegmentError, RequestRefused, ValueError),
        (SyncError, RequestRefused, ValueError),
        (MessageRefused, RequestRefused, Exception),
        (UnknownCampaign, NotFound, LookupError),
        (LinkInvalid, NotFound, LookupError),
        (CustomerUnknown, RetryLater, Exception),
        (DeliveriesPending, RetryLater, Exception),
        (LookupTimedOut, RetriableConnectorError, Exception),
        (TimeOutOfRange, InvalidValue, ValueError),
        (CsvError, InvalidValue, ValueError),
    ],
)
def test_each_error_is_on_its_branch_and_keeps_the_base_it_is_caught_by(
    error: type[Exception], branch: type[IntegrationError], stdlib: type[Exception]
) -> None:
    assert issubclass(error, branch)
    assert issubclass(error, IntegrationError)
    assert issubclass(error, stdlib)


def test_contact_lists_and_keyset_pages_refuse_cursors_with_one_error() -> None:
    assert lists.BadCursor is keyset.BadCursor
    with pytest.raises(keyset.BadCursor) as refused:
        keyset.decode("not-a-cursor")
    assert refused.value.reason == "invalid_cursor"


def test_a_refusal_keeps_its_reason_message_and_details() -> None:
    refused = MessageRefused("not_found", "no contact 7", {"contact_id": 7})
    assert (refused.reason, str(refused), refused.details) == ("not_found", "no contact 7", {"contact_id": 7})
    assert str(UnknownCampaign(12)) == "12"
    assert UnknownCampaign(12).reason == "not_found"
