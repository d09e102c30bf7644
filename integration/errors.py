"""The error tree, grouped by what the caller should do next.

IntegrationError
  ConfigError              bad or missing setting: fail at start-up naming the variable
  RequestRefused           a request that cannot be done as asked: answer 4xx with `reason`, change nothing
    BadCursor                a page cursor this list did not give out (keyset; also a ValueError)
    InvalidScheme            an RFM scheme that does not place every (R, F) pair once (analytics.rfm)
    SegmentError             a segment that cannot be saved as asked (audiences.segments)
    SyncError                a sync that cannot be set up as asked (audiences.sync)
    MessageRefused           a one-off email that may not go (campaigns.messages)
    NotFound                 the thing named is not there, or not the caller's: 404 (also a LookupError)
      UnknownCampaign          (campaigns.sends)
      LinkInvalid              a forged or expired download link (audiences.exports)
  RetryLater               work that cannot finish yet: the job raises it and is retried with back-off
    CustomerUnknown          a delivery naming a customer not seen yet (connectors.shopify.source)
    DeliveriesPending        some deliveries of a drain failed transiently (jobs.ingest)
  ConnectorError
    RetriableConnectorError  429, 5xx, timeouts: the job is retried with back-off
      LookupTimedOut           a destination's host did not resolve in time (connectors.addresses)
    FatalConnectorError      other 4xx: recorded, not retried
      CredentialsRejected    revoked or wrong key: the sync stops until its credentials change
      AddressRefused         a destination URL outside the allowed addresses: the sync stops until it changes
  InvalidRecord            one bad payload or row: recorded with position and reason, batch goes on
  InvalidValue             a value or file we cannot read: reported to its sender (also a ValueError)
    TimeOutOfRange           a time outside the bounds storepulse keeps (connectors.times)
    CsvError                 a file that cannot be read as CSV at all (connectors.csv.reader)

A webhook that fails verification is answered 401 by its receiver in `webhooks/` and stored nowhere.
"""

from __future__ import annotations


class IntegrationError(Exception):
    """Base of every error storepulse raises on purpose."""

    reason = "integration_error"


class ConfigError(IntegrationError):
    """A setting is missing or malformed; the message names the variable."""

    reason = "config_error"

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable
        self.problem = problem


class RequestRefused(IntegrationError):
    """The caller asked for what cannot be done as asked; `reason` is machine-readable and
    `details` (if any) what the caller may be shown."""

    reason = "request_refused"

    def __init__(
        self, message: str, reason: str | None = None, details: dict[str, object] | None = None
    ) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason
        self.details = details


class NotFound(RequestRefused, LookupError):
    """What the request names does not exist, or belongs to another account."""

    reason = "not_found"


class RetryLater(IntegrationError):
    """The work cannot finish yet (something it needs has not arrived); retry it with back-off."""

    reason = "retry_later"


class ConnectorError(IntegrationError):
    """A call to a platform or tool failed."""

    reason = "connector_error"


class RetriableConnectorError(ConnectorError):
    """A transient failure (429, 5xx, timeout); retry after `retry_after` seconds if given."""

    reason = "retriable"

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class FatalConnectorError(ConnectorError):
    """A permanent failure (4xx, revoked credentials); record it and stop."""

    reason = "fatal"


class CredentialsRejected(FatalConnectorError):
    """The destination refused our credentials (revoked, wrong or missing a permission)."""

    reason = "credentials_rejected"


class AddressRefused(FatalConnectorError):
    """A destination URL is not one requests may go to (`reason`: url_not_https, url_not_public or
    url_unresolvable); `detail` says why without the URL's path or query."""

    def __init__(self, url: str, reason: str, detail: str) -> None:
        super().__init__(f"{detail} ({reason})")
        self.url = url
        self.reason = reason
        self.detail = detail


class InvalidRecord(IntegrationError):
    """One record of a batch is invalid; `position` and `errors` say where and why."""

    reason = "invalid_record"

    def __init__(self, position: int | str, errors: dict[str, list[str]]) -> None:
        super().__init__(f"record {position}: {errors}")
        self.position = position
        self.errors = errors


class InvalidValue(IntegrationError, ValueError):
    """A value or a whole file cannot be read as one of ours; the message says why."""

    reason = "invalid_value"
