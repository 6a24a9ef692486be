"""Broker addresses: one RabbitMQ URL, or several (the nodes of a cluster).

``AMQP_URL`` holds one URL or several separated by commas, e.g.
``amqp://u:p@rabbit-1:5672/,amqp://u:p@rabbit-2:5672/,amqp://u:p@rabbit-3:5672/``,
or one URL naming several hosts (as libpq does), short for the same:
``amqp://u:p@rabbit-1:5672,rabbit-2:5672,rabbit-3:5672/``.
The first connection tries them in the order given; after a connection is
lost, the next attempt starts with the address *after* the one that was in
use (that node has probably just gone) and goes round the list, so the
service lands on the next live node. Every address names its own vhost and
credentials (normally all the same).
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Sequence

#: a comma that starts another URL (any other comma separates the hosts of one URL)
_NEXT_URL = re.compile(r"\s*,[\s,]*(?=[A-Za-z][A-Za-z0-9+.-]*://)")
#: scheme, credentials, the host list, then path and query
_URL = re.compile(r"(?P<scheme>[^:/]+://)(?P<userinfo>[^@/?#]*@)?(?P<hosts>[^/?#]*)(?P<rest>.*)",
                  re.S)


def _expand_hosts(url: str) -> list[str]:
    """One URL per host of ``scheme://user:pass@host1:port,host2:port/vhost``."""
    match = _URL.fullmatch(url)
    if match is None or "," not in match["hosts"]:
        return [url]
    hosts = [h.strip() for h in match["hosts"].split(",") if h.strip()]
    return [f"{match['scheme']}{match['userinfo'] or ''}{host}{match['rest']}" for host in hosts]


def broker_urls(value: str | Sequence[str]) -> list[str]:
    """The addresses in an ``AMQP_URL`` value (comma-separated URLs, or one URL with
    several hosts) or a list of them."""
    parts = _NEXT_URL.split(value) if isinstance(value, str) else list(value)
    urls = [url for p in parts if p and p.strip().strip(",")
            for url in _expand_hosts(p.strip().strip(","))]
    if not urls:
        raise ValueError("no RabbitMQ address given (AMQP_URL is empty)")
    for url in urls:
        scheme = urllib.parse.urlsplit(url).scheme
        if scheme not in ("amqp", "amqps"):
            raise ValueError(f"not an AMQP URL: {redact(url)!r} (separate several with commas)")
    return urls


def rotation(count: int, current: int | None) -> list[int]:
    """The order in which to try ``count`` addresses: from the first when nothing was
    connected yet (``current`` is None), else from the one after ``current``, round
    the list, ending with ``current`` itself."""
    if count < 1:
        raise ValueError("no addresses")
    start = 0 if current is None else (current + 1) % count
    return [(start + i) % count for i in range(count)]


def redact(url: str) -> str:
    """``host:port/vhost`` of an address, without its credentials (for logs)."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or "localhost"
    port = parts.port or (5671 if parts.scheme == "amqps" else 5672)
    return f"{parts.scheme}://{host}:{port}{parts.path or '/'}"
