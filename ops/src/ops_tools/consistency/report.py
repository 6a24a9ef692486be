"""What a consistency check finds: a :class:`Finding` per check, the :class:`Report`
of a run, and :class:`SourceUnavailable` when a source cannot be read."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

#: examples kept per finding
MAX_EXAMPLES = 5


@dataclass(frozen=True)
class Finding:
    """What one check found: ``count`` problems, at most five ``examples``."""

    check: str
    count: int
    examples: list[str] = field(default_factory=list)


@dataclass
class Report:
    findings: list[Finding]
    #: checks that were not run, with the reason
    skipped: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(f.count == 0 for f in self.findings)

    def finding(self, check: str) -> Finding:
        for f in self.findings:
            if f.check == check:
                return f
        raise KeyError(check)

    def found(self) -> dict[str, int]:
        """The checks that found something, with their counts."""
        return {f.check: f.count for f in self.findings if f.count}

    def to_text(self) -> str:
        lines: list[str] = []
        for f in self.findings:
            lines.append(f"{f.check}: {f.count}")
            lines.extend(f"    {example}" for example in f.examples)
        lines.extend(f"skipped: {reason}" for reason in self.skipped)
        n = len(self.findings)
        if self.ok:
            lines.append(f"consistent: {n} checks, nothing found")
        else:
            bad = sum(1 for f in self.findings if f.count)
            lines.append(f"INCONSISTENT: {bad} of {n} checks found something")
        return "\n".join(lines)


class SourceUnavailable(Exception):
    """A database or the RabbitMQ management API cannot be read."""


def _finding(check: str, problems: Sequence[str], count: int | None = None) -> Finding:
    return Finding(check, len(problems) if count is None else count,
                   list(problems[:MAX_EXAMPLES]))


