"""``python -m ops_tools.consistency`` (``make check``)."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence

from .report import SourceUnavailable
from .run import check, wait_until_settled

DEFAULT_CORE_DB = "postgresql://postgres@127.0.0.1:5432/core"
DEFAULT_SOCIAL_DB = "postgresql://postgres@127.0.0.1:5432/social"
DEFAULT_RABBITMQ_API = "http://guest:guest@127.0.0.1:15672"


def _parser() -> argparse.ArgumentParser:
    env = os.environ.get
    p = argparse.ArgumentParser(
        prog="python -m ops_tools.consistency",
        description="Check that core's and social's databases agree (exit 0: consistent, "
                    "1: something found, 2: a database or the broker API cannot be read).")
    p.add_argument("--core-db", default=env("CORE_DATABASE_URL", DEFAULT_CORE_DB),
                   help=f"core's database URL (default: $CORE_DATABASE_URL or {DEFAULT_CORE_DB})")
    p.add_argument("--social-db", default=env("SOCIAL_DATABASE_URL", DEFAULT_SOCIAL_DB),
                   help="social's database URL (default: $SOCIAL_DATABASE_URL or "
                        f"{DEFAULT_SOCIAL_DB})")
    p.add_argument("--rabbitmq-api", default=env("RABBITMQ_API_URL", DEFAULT_RABBITMQ_API),
                   help="RabbitMQ management API URL with credentials, '' to skip the "
                        "dead-letter check (default: $RABBITMQ_API_URL or "
                        "http://guest:***@127.0.0.1:15672)")
    p.add_argument("--vhost", default="/", help="RabbitMQ vhost (default: /)")
    p.add_argument("--grace-seconds", type=float, default=60.0,
                   help="ignore changes younger than this (default: 60)")
    p.add_argument("--settle", type=float, default=0.0, metavar="SECONDS",
                   help="first wait up to SECONDS for outboxes and queues to drain (0: don't)")
    return p


async def _main(args: argparse.Namespace) -> int:
    api = args.rabbitmq_api or None
    if args.settle > 0 and not await wait_until_settled(
            args.core_db, args.social_db, api, args.vhost, timeout=args.settle):
        print(f"warning: not settled after {args.settle:g} s; checking anyway", file=sys.stderr)
    try:
        report = await check(args.core_db, args.social_db, api, args.vhost,
                             grace_seconds=args.grace_seconds)
    except SourceUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(report.to_text())
    return 0 if report.ok else 1


def main(argv: Sequence[str] | None = None) -> int:
    return asyncio.run(_main(_parser().parse_args(argv)))

