"""The development RabbitMQ cluster (``make dev RABBITMQ_NODES=3`` starts it too).

Nodes ``rabbit-c1@localhost``, ``rabbit-c2@localhost``, ... with AMQP on
5681, 5682, ..., management on 15681, 15682, ... and their data under
``.dev/rabbit-cluster``; the machine's own RabbitMQ is left alone.

    python scripts/rabbit_cluster.py up [--nodes 3]     # foreground until Ctrl-C
    python scripts/rabbit_cluster.py status
    python scripts/rabbit_cluster.py stop-node 1 [--kill]
    python scripts/rabbit_cluster.py start-node 1
    python scripts/rabbit_cluster.py down                # stop every node, remove the data
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from instasaga.queues import CORE_COMMANDS, CORE_REPLIES, SOCIAL_COMMANDS, SOCIAL_REPLIES
from testkit.rabbit_cluster import ClusterUnavailable, RabbitCluster, dev_cluster

ROOT = Path(__file__).resolve().parents[1]
BASE_DIR = ROOT / ".dev" / "rabbit-cluster"
#: the queues whose leaders ``status`` shows
QUEUES = (CORE_COMMANDS, SOCIAL_COMMANDS, CORE_REPLIES, SOCIAL_REPLIES)


def describe(cluster: RabbitCluster, vhost: str = "/") -> str:
    lines = []
    running = cluster.running_nodes()
    for n in cluster.nodes:
        state = "running" if n.name in running else (
            "starting/stopping" if cluster.is_running(n.index) else "stopped")
        lines.append(f"{n.name:<24} {state:<18} amqp://127.0.0.1:{n.amqp_port}/  "
                     f"http://127.0.0.1:{n.management_port}/")
    if running:
        for q in QUEUES:
            try:
                info = cluster.queue_info(vhost, q)
            except RuntimeError:
                continue
            lines.append(f"{q:<24} leader {info.get('leader')}, members "
                         f"{', '.join(info.get('members') or [])}")
    lines.append(f"AMQP_URL={cluster.amqp_url()}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--base-dir", type=Path, default=BASE_DIR)
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start the cluster and keep it up until Ctrl-C")
    up.add_argument("--fresh", action="store_true",
                    help="remove the data when stopping (kept by default)")
    sub.add_parser("down", help="stop every node and remove the data")
    sub.add_parser("status", help="nodes, addresses and queue leaders")
    stop = sub.add_parser("stop-node", help="stop one node (by number, from 1)")
    stop.add_argument("node", type=int)
    stop.add_argument("--kill", action="store_true", help="SIGKILL instead of a clean stop")
    start = sub.add_parser("start-node", help="start a stopped node again")
    start.add_argument("node", type=int)
    args = parser.parse_args()

    try:
        cluster = dev_cluster(args.base_dir, args.nodes)
        if args.command == "up":
            stopping = threading.Event()
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, lambda *_: stopping.set())
            cluster.start()
            try:
                print(describe(cluster), flush=True)
                print("Ctrl-C stops the nodes", flush=True)
                stopping.wait()
            finally:
                print("stopping the nodes...", file=sys.stderr)
                cluster.teardown(keep_data=not args.fresh)
        elif args.command == "down":
            cluster.teardown()
        elif args.command == "status":
            print(describe(cluster))
        elif args.command == "stop-node":
            cluster.stop_node(args.node, kill=args.kill)
            print(f"{cluster.node(args.node).name} stopped")
        elif args.command == "start-node":
            cluster.start_node(args.node)
            print(f"{cluster.node(args.node).name} running")
    except ClusterUnavailable as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
