"""Who may see and touch what another user has (pure rules, no I/O).

A block works both ways for contact (follows, messages, likes, comments and
mentions are refused) and one way for sight: the blocked user no longer sees the
blocker at all. A private account shows its posts, stories, followers and
following to its owner and approved followers only; its profile stays visible.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Sight(StrEnum):
    full = "full"  # everything the owner has
    profile_only = "profile_only"  # a private account to a stranger
    none = "none"  # the owner blocked the viewer: as if they did not exist


@dataclass(frozen=True)
class Relation:
    """What holds between a viewer and an owner (another user, or themselves)."""

    viewer_id: int | None
    owner_id: int
    owner_private: bool = False
    viewer_follows: bool = False
    owner_blocked_viewer: bool = False
    viewer_blocked_owner: bool = False

    @property
    def is_self(self) -> bool:
        return self.viewer_id == self.owner_id

    @property
    def blocked(self) -> bool:
        """Either blocked the other: no contact."""
        return not self.is_self and (self.owner_blocked_viewer or self.viewer_blocked_owner)

    @property
    def sight(self) -> Sight:
        if self.is_self:
            return Sight.full
        if self.owner_blocked_viewer:
            return Sight.none
        if self.owner_private and not self.viewer_follows:
            return Sight.profile_only
        return Sight.full
