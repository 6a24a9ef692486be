"""Pure hashtag rules of social-service (no I/O)."""

from __future__ import annotations

from collections.abc import Iterable

from instasaga.hashtags import normalise_hashtag


def normalise(tags: Iterable[str]) -> list[str]:
    """Normalised (:func:`instasaga.hashtags.normalise_hashtag`: NFKC, case-folded,
    without '#'), distinct, in order."""
    seen: dict[str, None] = {}
    for t in tags:
        name = normalise_hashtag(t)
        if name:
            seen.setdefault(name, None)
    return list(seen)


def rejection_reason(tags: list[str], *, max_count: int, max_length: int,
                     banned: frozenset[str]) -> str | None:
    """Why a post with these (normalised) hashtags may not be indexed, or None."""
    if len(tags) > max_count:
        return f"Too many hashtags: {len(tags)} (at most {max_count})"
    too_long = [t for t in tags if len(t) > max_length]
    if too_long:
        return f"Hashtag longer than {max_length} characters: #{too_long[0][:20]}..."
    refused = [t for t in tags if t in banned]
    if refused:
        return f"Hashtag not allowed: #{refused[0]}"
    return None


def escape_like(q: str) -> str:
    """``q`` as literal text inside a LIKE pattern whose escape character is '\\'."""
    return q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def like_prefix(q: str) -> str:
    """A LIKE pattern matching text that starts with ``q`` literally."""
    return escape_like(q) + "%"
