"""The error tree, grouped by what the caller should do next.

IntegrationError
  ConfigError              bad or missing setting: fail at start-up naming the variable
  WebhookRejected          bad signature, unknown shop: answer 4xx, store nothing
  ConnectorError
    RetriableConnectorError  429, 5xx, timeouts: the job is retried with back-off
    FatalConnectorError      other 4xx: recorded, not retried
      CredentialsRejected    revoked or wrong key: the sync stops until its credentials change
      AddressRefused         a destination URL outside the allowed addresses: the sync stops until it changes
  InvalidRecord            one bad payload or row: recorded with position and reason, batch goes on
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


class WebhookRejected(IntegrationError):
    """A delivery failed verification; nothing of it is stored."""

    reason = "webhook_rejected"

    def __init__(self, message: str, status: int = 401) -> None:
        super().__init__(message)
        self.status = status


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
