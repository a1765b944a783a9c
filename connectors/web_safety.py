"""Which network addresses the web source may fetch, checked before each request and at each connection.

A URL given to chunkwise, or a link or redirect found on a page, could point at the machine that
runs it or at its network (a router's admin page, a database, a cloud's metadata service that
hands out credentials). So by default only public addresses are fetched: every address a host
name resolves to is checked, when a request is made and again when its connection opens (the
connection goes to an address that was checked, so a name that resolves differently the second
time cannot slip through).

``allow_private_network`` allows loopback, private (RFC 1918, unique local), shared and
link-local addresses. Cloud metadata addresses, multicast, broadcast, reserved and unspecified
(``0.0.0.0``) addresses are refused even then.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

logger = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Instance metadata services hand out credentials to whatever asks from inside the machine.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(address)
    for address in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean, ...
        "169.254.170.2",  # AWS ECS task metadata
        "fd00:ec2::254",  # AWS over IPv6
        "100.100.100.200",  # Alibaba Cloud
    )
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
ALLOW_FLAG = "--allow-private-network (allow_private_network=True)"


class AddressRefused(Exception):
    """A URL's host is, or resolves to, an address the web source does not fetch; ``allowable``
    when ``allow_private_network`` would allow it."""

    def __init__(self, message: str, *, allowable: bool = False) -> None:
        super().__init__(message)
        self.allowable = allowable


def refusal(address: IPAddress, allow_private_network: bool = False) -> str | None:
    """Why ``address`` may not be fetched, or ``None`` when it may.

    Example::

        refusal(ipaddress.ip_address("10.0.0.7"))                              # "a private address"
        refusal(ipaddress.ip_address("10.0.0.7"), allow_private_network=True)  # None
    """
    address = _embedded_ipv4(address)
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address, never fetched"
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_loopback:
        return None if allow_private_network else "a loopback address"
    if address.is_link_local:
        return None if allow_private_network else "a link-local address"
    if address.is_reserved or address == ipaddress.IPv4Address("255.255.255.255"):
        return "a reserved address"
    if address.is_global or allow_private_network:
        return None
    if address.is_private:
        return "a private address"
    return "a non-public address"


def _embedded_ipv4(address: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 one stands for (mapped, 6to4, NAT64), else ``address`` itself."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address.sixtofour is not None:
            return address.sixtofour
        if address in _NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


class AddressGuard:
    """Resolves host names and refuses those with any address :func:`refusal` refuses.

    Example::

        guard = AddressGuard(allow_private_network=False)
        guard.check_url("http://127.0.0.1/")   # raises AddressRefused
    """

    def __init__(self, allow_private_network: bool = False) -> None:
        self.allow_private_network = allow_private_network

    def addresses(self, host: str, port: int) -> list[str]:
        """Every address ``host`` resolves to, once each, in the resolver's order; each is checked
        (:class:`AddressRefused` names the first refused). A name that does not resolve raises
        :class:`OSError`."""
        host = host.strip("[]")
        try:
            literal: IPAddress | None = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        if literal is not None:
            found = [literal]
        else:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            found = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
        unique = list(dict.fromkeys(found))
        for address in unique:
            reason = refusal(address, self.allow_private_network)
            if reason is not None:
                shown = f"{host} is" if literal is not None else f"{host} resolves to {address},"
                raise AddressRefused(f"{shown} {reason}", allowable=refusal(address, True) is None)
        return [str(address) for address in unique]

    def check_url(self, url: str) -> None:
        """Raise :class:`AddressRefused` when ``url`` is not http(s) or its host has a refused address.
        A host that does not resolve passes (the request then fails to connect)."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise AddressRefused(f"{url} is not an http(s) URL with a host")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            self.addresses(parts.hostname, port)
        except OSError as error:
            logger.debug("%s does not resolve: %s", parts.hostname, error)


class _GuardedBackend(httpcore.NetworkBackend):
    """Opens TCP connections only to addresses the guard accepts, resolving the name itself."""

    def __init__(self, guard: AddressGuard) -> None:
        self.guard = guard
        self.inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            addresses = self.guard.addresses(host, port)
        except OSError as error:
            raise httpcore.ConnectError(f"{host} does not resolve: {error}") from error
        failure: Exception | None = None
        for address in addresses:
            try:
                return self.inner.connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                failure = error
        assert failure is not None  # addresses() returns at least one address or raises
        raise failure

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        raise AddressRefused("unix sockets are not fetched")

    def sleep(self, seconds: float) -> None:
        self.inner.sleep(seconds)


def guarded_client(guard: AddressGuard, *, timeout: float, user_agent: str) -> httpx.Client:
    """An ``httpx`` client whose connections go only to addresses ``guard`` accepts.

    It follows no redirects (the caller checks each hop) and ignores proxy settings from the
    environment: a proxy would connect on its side, out of reach of the check.

    Example::

        with guarded_client(AddressGuard(), timeout=30, user_agent="chunkwise") as client:
            client.get("https://example.org/")
    """
    transport = httpx.HTTPTransport(trust_env=False)
    if isinstance(getattr(transport, "_pool", None), httpcore.ConnectionPool):
        transport._pool.close()
        transport._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(),  # SSL_CERT_FILE and SSL_CERT_DIR still apply
            max_connections=10,
            max_keepalive_connections=10,
            keepalive_expiry=5.0,
            network_backend=_GuardedBackend(guard),
        )
    else:  # another httpx layout: every request is still checked before it is sent
        logger.warning("httpx has no connection pool to guard: URLs are checked before each request only")
    return httpx.Client(
        transport=transport,
        follow_redirects=False,
        trust_env=False,
        timeout=httpx.Timeout(timeout),
        headers={"User-Agent": user_agent},
    )
