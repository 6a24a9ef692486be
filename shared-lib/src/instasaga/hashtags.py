"""What a hashtag is, the same in both services: core extracts a post's hashtags,
social indexes and searches them."""

from __future__ import annotations

import re
import unicodedata


def normalise_hashtag(name: str) -> str:
    """The one form of a hashtag: without leading '#' and surrounding spaces,
    NFKC-normalised and case-folded (a full-width or styled tag is the plain one)."""
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold())
    return folded.strip().lstrip("#").strip()


#: ``#`` then word characters, not inside a word, an entity (``&#..``) or ``##``
_HASHTAG = re.compile(r"(?<![\w&#])#(\w+)")


def extract_hashtags(text: str | None) -> list[str]:
    """Distinct hashtags of a text (normalised), in order of appearance. The text is
    NFKC-normalised first, so a full-width number sign (U+FF03) starts a hashtag too."""
    if not text:
        return []
    seen: dict[str, None] = {}
    for match in _HASHTAG.finditer(unicodedata.normalize("NFKC", text)):
        name = normalise_hashtag(match.group(1))
        if name:
            seen.setdefault(name, None)
    return list(seen)
