"""Write the README's benchmark table from an ``ops`` result file (the newest one in
``bench/results/`` by default)::

    uv run python bench/run.py --scenario ops --clients 16
    uv run python bench/readme_table.py [bench/results/ops-<time>.json]

The table goes between the README's ``<!-- bench:ops -->`` and ``<!-- /bench:ops -->``
markers; the rest of the README is left as it is.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
RESULTS = ROOT / "bench" / "results"
BEGIN, END = "<!-- bench:ops -->\n", "<!-- /bench:ops -->\n"


def _ms(value: Any) -> str:
    return "-" if value is None else f"{float(value):.1f}"


def table(result: dict[str, Any]) -> str:
    params, machine = result["parameters"], result["machine"]
    lines = [
        f"Measured {result['started_at'][:16].replace('T', ' ')} UTC by `bench/run.py "
        f"--scenario ops --clients {params['clients']}` ({machine['nproc']} cores, "
        f"{machine['memory_gib']} GiB; every process on the same machine, one replica "
        "each); CPU is milliseconds per request of all server processes (both services, "
        "PostgreSQL, RabbitMQ, nginx; the load generator left out), round trips are to "
        "PostgreSQL, counted where the services call the driver.\n",
        "\n",
        "| operation | CPU ms/request | target | core | social | PostgreSQL | RabbitMQ "
        "| round trips | requests/s | p99 ms |\n",
        "|---|---|---|---|---|---|---|---|---|---|\n",
    ]
    for op, r in result["results"]["operations"].items():
        cpu = r["cpu_ms_per_request"]
        latency = r["operation"].get("latency_ms", {})
        lines.append(
            f"| {op} | {_ms(r['system_cpu_ms_per_request'])} | <= {_ms(r['target_ms'])} "
            f"| {_ms(cpu.get('core'))} | {_ms(cpu.get('social'))} "
            f"| {_ms(cpu.get('postgres (server)'))} | {_ms(cpu.get('rabbitmq (server)'))} "
            f"| {_ms(r.get('round_trips_per_request'))} "
            f"| {_ms(r['operation'].get('throughput_per_s'))} | {_ms(latency.get('p99'))} |\n")
    return "".join(lines)


def main(argv: list[str]) -> int:
    path = Path(argv[0]) if argv else max(RESULTS.glob("ops-*.json"), default=None,
                                           key=lambda p: p.stat().st_mtime)
    if path is None:
        print("no ops result: run bench/run.py --scenario ops first", file=sys.stderr)
        return 1
    result = json.loads(path.read_text())
    if result.get("scenario") != "ops":
        print(f"{path} is a {result.get('scenario')} result, not ops", file=sys.stderr)
        return 1
    text = README.read_text()
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    README.write_text(text[:start] + table(result) + text[end:])
    print(f"{README}: table from {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
