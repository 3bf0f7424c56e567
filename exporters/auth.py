"""The one bearer-token check: `/metrics`, the status page and every ingest route use it."""

from __future__ import annotations

import hmac


def same_secret(given: str, expected: str) -> bool:
    """Compare a credential from a request with the configured one in constant time.

    Header values arrive as text decoded with `surrogateescape`, so bytes that are not
    UTF-8 show up as lone surrogates: they are encoded back, compared, and simply differ.
    """
    return hmac.compare_digest(
        given.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass")
    )


def bearer_ok(authorization: str, token: str | None) -> bool:
    """Whether an `Authorization` header carries `token` (always true when no token is set).

    The `Bearer ` scheme is required (RFC 6750; the scheme is case-insensitive), as
    Prometheus and Alertmanager send it. An empty `token` means the configured secret
    could not be read: nothing is let in.
    """
    if token is None:
        return True
    scheme, _, given = authorization.partition(" ")
    if not token or scheme.lower() != "bearer":
        return False
    return same_secret(given.strip(), token)
