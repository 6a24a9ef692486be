"""The page names no other host: its HTML, scripts and styles are checked for
absolute URLs (a test runs this over the served files)."""

from __future__ import annotations

import re

#: an absolute http(s) URL, or a protocol-relative one (``//host/...``) in an attribute
#: or a CSS ``url()``
_ABSOLUTE = re.compile(r"https?://[^\s\"'<>)]+|(?:src|href|action)\s*=\s*[\"']//[^\"']+"
                       r"|url\(\s*[\"']?//[^)]+\)", re.IGNORECASE)


def external_urls(text: str, own_hosts: frozenset[str] = frozenset()) -> list[str]:
    """Absolute URLs in ``text`` that point anywhere but ``own_hosts``."""
    found = []
    for match in _ABSOLUTE.finditer(text):
        url = match.group(0)
        host = re.sub(r"^[a-z]+://", "", url, flags=re.IGNORECASE).split("/")[0]
        if url.lower().startswith("http") and host in own_hosts:
            continue
        found.append(url)
    return found
