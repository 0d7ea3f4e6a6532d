"""Fetching CRLs over HTTP from a certificate's CRL distribution points.

The verifier is synchronous (it runs the same in the CLI, the router and
tests), so fetching uses a sync ``httpx.Client`` with a short timeout. A
``CrlFetcher`` is optional: ``CrlStore(fetcher=None)`` uses CRL files only.
Tests give it an ``httpx.MockTransport`` or point it at a local HTTP server.
"""

from __future__ import annotations

from datetime import timedelta
from types import TracebackType

import httpx
from cryptography import x509

from signing.certs import ParsedCert
from signing.errors import SigningError

#: A CRL larger than this is refused (a national CA's CRL is a few MiB at most).
DEFAULT_MAX_BYTES = 16 * 1024 * 1024


class CrlFetchError(SigningError):
    """A CRL could not be fetched from a distribution point."""


class CrlFetcher:
    """Downloads CRLs from ``http``/``https`` distribution points.

    ``retry_after`` is how long the store waits before asking an unreachable
    distribution point again; without it every package signed under a CA
    whose CRL server is down would wait for the full timeout.
    """

    def __init__(
        self,
        *,
        client: httpx.Client | None = None,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 5.0,
        max_bytes: int = DEFAULT_MAX_BYTES,
        retry_after: timedelta = timedelta(minutes=1),
    ) -> None:
        self._owns_client = client is None
        self._client = client or httpx.Client(
            transport=transport,
            timeout=timeout,
            follow_redirects=True,
            max_redirects=3,
            headers={"User-Agent": "edoc-hub-crl-fetcher"},
        )
        self.max_bytes = max_bytes
        self.retry_after = retry_after
        self.fetches = 0

    def fetch(self, url: str) -> bytes:
        """The body at ``url``; raises ``CrlFetchError`` with a readable reason."""
        self.fetches += 1
        try:
            with self._client.stream("GET", url) as resp:
                if resp.status_code != 200:
                    raise CrlFetchError(f"GET {url}: HTTP {resp.status_code}")
                body = bytearray()
                for chunk in resp.iter_bytes():
                    body += chunk
                    if len(body) > self.max_bytes:
                        raise CrlFetchError(f"GET {url}: larger than {self.max_bytes} bytes")
                return bytes(body)
        except httpx.TimeoutException:
            raise CrlFetchError(f"GET {url}: timed out") from None
        except httpx.HTTPError as exc:
            raise CrlFetchError(f"GET {url}: {type(exc).__name__}: {exc}") from None

    def close(self) -> None:
        """Close the HTTP client if this fetcher created it."""
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> CrlFetcher:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


_CDP_CACHE: dict[str, tuple[str, ...]] = {}
_CDP_CACHE_MAX = 4096


def distribution_points(cert: ParsedCert) -> tuple[str, ...]:
    """HTTP(S) URLs of ``cert``'s CRL distribution points, in order (cached per certificate).

    Points naming a separate ``cRLIssuer`` (indirect CRLs) and non-HTTP URIs
    such as LDAP are skipped: the hub cannot check them.
    """
    cached = _CDP_CACHE.get(cert.sha256)
    if cached is not None:
        return cached
    urls: list[str] = []
    try:
        ext = cert.cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    except (x509.ExtensionNotFound, ValueError):
        ext = None
    for point in ext or []:
        if point.crl_issuer or not point.full_name:
            continue
        for name in point.full_name:
            if isinstance(name, x509.UniformResourceIdentifier) and name.value.lower().startswith(
                ("http://", "https://")
            ):
                urls.append(name.value)
    if len(_CDP_CACHE) >= _CDP_CACHE_MAX:
        _CDP_CACHE.clear()
    _CDP_CACHE[cert.sha256] = result = tuple(urls)
    return result
