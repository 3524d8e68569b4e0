"""Which addresses a feed may be fetched from, checked before connecting and pinned for the
connection itself (no DNS rebinding)."""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx

from outreach.adapters.feeds.messages import error_text

_ALLOW_HINT = "set network.allow_private: true in outreach.yaml to allow it"
_DEFAULT_PORTS = {"http": 80, "https": 443}
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class Refused(Exception):
    """An address outreach will not connect to; the message says why."""


class NoHost(Exception):
    """A host name that does not resolve."""


# --- addresses -----------------------------------------------------------------------------


def check_url(url: str, allow_private: bool) -> None:
    """Raise `Refused` unless `url` is http(s) and its host resolves to public addresses only."""
    parts = httpx.URL(url)
    if parts.scheme not in ("http", "https"):
        raise Refused(f"only http and https addresses are fetched, not '{parts.scheme}:'")
    host = parts.raw_host.decode("ascii")  # IDNA-encoded, as the connection will use it
    if not host:
        raise Refused("the address has no host")
    if not allow_private:
        _check_addresses(_resolve(host, parts.port or _DEFAULT_PORTS[parts.scheme]))


def plainly_private(url: str) -> str | None:
    """Why `url`'s host is plainly not public without asking DNS (`localhost`, a loopback or
    private address written out), or None: what `validate` can tell of a webhook before
    sending refuses it."""
    try:
        host = httpx.URL(url).host.strip("[]").lower()
    except httpx.InvalidURL:
        return None
    if host == "localhost" or host.endswith(".localhost"):
        return f"{host} is this machine; {_ALLOW_HINT}"
    try:
        kind = address_kind(ipaddress.ip_address(host))
    except ValueError:
        return None
    return f"{host} is {kind}; {_ALLOW_HINT}" if kind else None


def _resolve(host: str, port: int) -> list[IPAddress]:
    # getaddrinfo has no timeout of its own: the system resolver's (a few seconds) applies.
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise NoHost(
            f"cannot find the host {host} ({error_text(exc)}); check the address"
        ) from None
    return [ipaddress.ip_address(str(info[4][0]).partition("%")[0]) for info in infos]


def _check_addresses(addresses: Iterable[IPAddress]) -> None:
    for address in addresses:
        kind = address_kind(address)
        if kind:
            raise Refused(f"{address} is {kind}; {_ALLOW_HINT}")


def address_kind(address: IPAddress) -> str | None:
    """Why `address` is not a public one ("a loopback address"...), or None when it is."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            kind = address_kind(embedded)
            return f"{kind} in IPv6 form" if kind else None
    checks = (
        ("unspecified", address.is_unspecified),
        ("a loopback", address.is_loopback),
        ("a link-local", address.is_link_local),
        ("a multicast", address.is_multicast),
        ("a private", address.is_private),
        ("a reserved", address.is_reserved),
        ("a non-public", not address.is_global),  # e.g. 100.64.0.0/10, carrier-grade NAT
    )
    return next((f"{name} address" for name, hit in checks if hit), None)


_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for (mapped, 6to4, Teredo client, NAT64)."""
    if address.ipv4_mapped:
        return address.ipv4_mapped
    if address.sixtofour:
        return address.sixtofour
    if address.teredo:
        return address.teredo[1]
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def guarded_transport(allow_private: bool, deadline: float) -> httpx.HTTPTransport:
    """An ordinary transport whose sockets connect only to the addresses just checked (no DNS
    rebinding between check and connect) and give up at `deadline` (a server trickling
    headers forever). TLS still verifies, and sends SNI for, the URL's host name."""
    transport = httpx.HTTPTransport(retries=0, trust_env=False)
    # httpx has no public hook for the network backend; its pool has. Tests cover this.
    transport._pool = httpcore.ConnectionPool(
        ssl_context=httpx.create_ssl_context(trust_env=False),
        network_backend=_GuardedBackend(allow_private, deadline),
    )
    return transport


class _GuardedBackend(httpcore.SyncBackend):
    def __init__(self, allow_private: bool, deadline: float) -> None:
        self.allow_private = allow_private
        self.deadline = deadline

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        addresses = _resolve(host, port)
        if not self.allow_private:
            _check_addresses(addresses)
        error: Exception = httpcore.ConnectError(f"no address for {host}")
        for address in addresses:
            try:
                stream = super().connect_tcp(
                    str(address), port, _bounded(timeout, self.deadline), local_address,
                    socket_options,
                )  # fmt: skip
            except httpcore.ConnectError as exc:
                error = exc
                continue
            return _DeadlineStream(stream, self.deadline)
        raise error


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream, deadline: float) -> None:
        self.inner = inner
        self.deadline = deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self.inner.read(max_bytes, _bounded(timeout, self.deadline))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.inner.write(buffer, _bounded(timeout, self.deadline))

    def close(self) -> None:
        self.inner.close()

    def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        bounded = _bounded(timeout, self.deadline)
        return _DeadlineStream(
            self.inner.start_tls(ssl_context, server_hostname, bounded), self.deadline
        )

    def get_extra_info(self, info: str) -> Any:
        return self.inner.get_extra_info(info)


def _bounded(timeout: float | None, deadline: float) -> float:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise httpcore.ReadTimeout("the total time allowed is used up")
    return remaining if timeout is None else min(timeout, remaining)
