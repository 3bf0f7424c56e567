"""The one bearer-token check: `/metrics`, the status page and every ingest route use it."""

from __future__ import annotations

import hmac


def bearer_ok(authorization: str, token: str | None) -> bool:
    """Whether an `Authorization` header carries `token` (always true when no token is set).

    The `Bearer ` scheme is required (RFC 6750; the scheme is case-insensitive), as
    Prometheus and Alertmanager send it. An empty `token` means the configured secret
    could not be read: nothing is let in. The comparison is constant-time, and a header
    with bytes that are not valid UTF-8 is compared as bytes, never an error.
    """
    if token is None:
        return True
    scheme, _, given = authorization.partition(" ")
    if not token or scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(
        given.strip().encode("utf-8", "surrogatepass"), token.encode("utf-8", "surrogatepass")
    )
