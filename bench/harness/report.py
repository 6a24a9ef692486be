"""The readable table (stdout and .txt), the JSON, and the PNG charts of a run."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # after use("Agg"): no display is needed

from .profile import render as render_profiles

Doc = dict[str, Any]

#: CPU used by processes outside the benchmark above which a warning is printed
NOISY_PERCENT = 20.0


# ---------------------------------------------------------------- text tables
def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) if i == 0 else h.rjust(w)
                       for i, (h, w) in enumerate(zip(headers, widths, strict=True)))]
    lines += ["  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                        for i, (c, w) in enumerate(zip(row, widths, strict=True)))
              for row in cells]
    return "\n".join(lines)


def _lat(d: Doc) -> list[object]:
    return [d.get("p50"), d.get("p95"), d.get("p99"), d.get("max")]


def operations_table(result: Doc) -> str:
    rows = [[name, op["count"], op["throughput_per_s"], op["pending_202"], op["errors"],
             *_lat(op["latency_ms"])] for name, op in result["operations"].items()]
    rows.append(["all operations", result["total_requests"], result["total_per_s"],
                 None, None, None, None, None, None])
    return (table(["operation", "requests", "ok/s", "202", "errors", "p50 ms", "p95 ms",
                   "p99 ms", "max ms"], rows)
            + f"\nCPU per request (services, nginx, PostgreSQL, RabbitMQ): "
              f"{_cell(result['cpu_ms_per_request'])} ms")


def saga_table(result: Doc) -> str:
    rows = [[name, op["saga_completed_per_s"], op["pending_202"], *_lat(op["saga_completion_ms"])]
            for name, op in result["operations"].items() if "saga_completion_ms" in op]
    return table(["saga (201 answers)", "completed/s", "202", "p50 ms", "p95 ms", "p99 ms",
                  "max ms"], rows)


def lag_text(result: Doc) -> str:
    lag = result["propagation_lag_ms"]
    a, s, q = lag["from_201"], lag["from_request_start"], lag["successful_poll_latency"]
    return (f"event propagation lag (post published -> listed by its hashtag on social): "
            f"{lag['samples']} samples, {lag['timeouts']} timed out, {lag['polls']} polls\n"
            f"  from the 201 answer:    p50 {_cell(a['p50'])} ms  p99 {_cell(a['p99'])} ms  "
            f"max {_cell(a['max'])} ms\n"
            f"  from the request start: p50 {_cell(s['p50'])} ms  p99 {_cell(s['p99'])} ms  "
            f"max {_cell(s['max'])} ms\n"
            f"  (the poll that saw the post took p50 {_cell(q['p50'])} ms, "
            f"max {_cell(q['max'])} ms: included above)")


def errors_text(result: Doc) -> str:
    lines = [f"  {name}: {op['errors_by_kind']}  e.g. {op['error_samples'][0]}"
             for name, op in result["operations"].items() if op["errors"]]
    return "errors:\n" + "\n".join(lines) if lines else "errors: none"


def resources_text(res: Doc) -> str:
    rows = [[name, g["cpu_percent_of_one_core"], g["rss_mb_peak"], g["processes"]]
            for name, g in res["processes"].items()]
    m = res["machine"]
    own_stack = len(rows) > 1  # with --url only the load generator is known
    rows.append(["other (not ours)" if own_stack else "all the rest (services included)",
                 m["other_cpu_percent_of_one_core"], None, None])
    head = (f"resources over {res['seconds']} s ({res['samples']} samples); whole machine "
            f"busy {m['cpu_busy_percent_of_all_cores']} % of {m['cores']} cores")
    text = head + "\n" + table(["process", "CPU % of a core", "peak RSS MB", "procs"], rows)
    if own_stack and m["other_cpu_percent_of_one_core"] > NOISY_PERCENT:
        text += ("\nWARNING: other processes used "
                 f"{m['other_cpu_percent_of_one_core']} % of a core during the measurement: "
                 "the machine was shared, these numbers are lower than on a quiet machine")
    return text


def consistency_text(c: Doc) -> str:
    if c["status"] in ("ok", "inconsistent"):
        return (f"consistency: {c['status']} (settled: {c['settled']})\n"
                + "\n".join(f"  {line}" for line in str(c["report"]).splitlines()))
    return f"consistency: {c['status']} ({c.get('reason') or c.get('error')})"


def logs_text(logs: Doc) -> str:
    if not logs:
        return "service logs: not ours (--url)"
    lines = []
    for name, log in logs.items():
        if log.get("missing"):
            lines.append(f"  {name}: no log")
            continue
        lines.append(f"  {name}: {log['by_level'] or 'no warnings or errors'}, "
                     f"{log['tracebacks']} tracebacks ({log['path']})")
        lines += [f"      {example}" for example in log["examples"]]
    return "service logs:\n" + "\n".join(lines)


#: the targets the mixed workload (32 clients) is held to
TARGET_MIXED_PER_S = 400.0
TARGET_MIXED_P99_MS = 150.0
TARGET_LAG_P99_MS = 200.0


def mixed_targets_text(result: Doc) -> str:
    """The mixed workload's figures with the target beside each."""
    ops = result["operations"]
    slow = {name: op["latency_ms"].get("p99") for name, op in ops.items()
            if (op["latency_ms"].get("p99") or 0) > TARGET_MIXED_P99_MS}
    worst = max(ops.items(), key=lambda kv: kv[1]["latency_ms"].get("p99") or 0, default=None)
    errors = sum(op["errors"] for op in ops.values())
    pending = sum(op["pending_202"] or 0 for op in ops.values())
    lag = result["propagation_lag_ms"]["from_201"].get("p99")
    return "\n".join([
        "mixed workload against its targets:",
        f"  requests/s: {_cell(result['total_per_s'])}   target >= {TARGET_MIXED_PER_S:g}",
        f"  worst p99: {worst[0] if worst else '-'} "
        f"{_cell(worst[1]['latency_ms'].get('p99')) if worst else '-'} ms; operations over "
        f"the target: {', '.join(f'{k} {_cell(v)}' for k, v in slow.items()) or 'none'}"
        f"   target every p99 <= {TARGET_MIXED_P99_MS:g} ms",
        f"  errors: {errors}, 202 answers: {pending}   target 0 and 0",
        f"  propagation lag p99 (from the 201): {_cell(lag)} ms"
        f"   target <= {TARGET_LAG_P99_MS:g} ms",
    ])


def mixed_text(result: Doc) -> str:
    sql = result.get("sql_per_request")
    parts = [operations_table(result), mixed_targets_text(result), saga_table(result),
             lag_text(result),
             errors_text(result), resources_text(result["resources"]),
             *(["SQL statements per request: " + sql_text(sql)] if sql else []),
             consistency_text(result["consistency"]), logs_text(result["service_logs"])]
    return "\n\n".join(parts)


def saga_text(result: Doc) -> str:
    rows = []
    for level in result["levels"]:
        op = level["create_post"]
        rows.append([level["concurrency"], op.get("saga_completed_per_s"),
                     op.get("throughput_per_s"), op.get("pending_202"), op.get("errors"),
                     *_lat(op.get("saga_completion_ms", {})), level["cpu_ms_per_request"],
                     level["resources"]["processes"]["loadgen"]["cpu_percent_of_one_core"]])
    main = table(["concurrency", "201/s", "answered/s", "202", "errors", "p50 ms", "p95 ms",
                  "p99 ms", "max ms", "CPU ms/saga", "loadgen CPU %"], rows)
    main += ("\nlatencies: of the 201 answers (saga completed while the request waited); "
             "CPU ms/saga: services, nginx, PostgreSQL and RabbitMQ per answered request")
    resources = "\n\n".join(f"concurrency {level['concurrency']}: "
                            + resources_text(level["resources"])
                            for level in result["levels"])
    errors = [f"  concurrency {lv['concurrency']}: {lv['create_post'].get('error_samples')}"
              for lv in result["levels"] if lv["create_post"].get("errors")]
    return "\n\n".join([main, floor_text(result["floor"]), against_floor_text(result),
                        "errors:\n" + "\n".join(errors) if errors else "errors: none",
                        resources, consistency_text(result["consistency"]),
                        logs_text(result["service_logs"])])


#: the targets the saga path is held to: p50 at concurrency 1 within twice the floor's,
#: at least half its rate at concurrency 32, and the two services' CPU per saga
TARGET_P50_RATIO = 2.0
TARGET_RATE_RATIO = 0.5
TARGET_CPU_MS_PER_SAGA = 5.0


def floor_text(result: Doc) -> str:
    rows = [[lv["concurrency"], lv["sagas"], lv["per_s"], lv["p50_ms"], lv["p99_ms"],
             lv["cpu_ms_per_saga"]] for lv in result["levels"]]
    return ("floor: bare asyncpg + aio-pika saga in one process (3 commits, 2 confirmed "
            "hops, no HTTP, no ORM)\n"
            + table(["concurrency", "sagas", "sagas/s", "p50 ms", "p99 ms", "CPU ms/saga"],
                    rows))


def against_floor_text(result: Doc) -> str:
    a = result.get("against_floor") or {}
    lines = ["create_post against the floor measured in this run (target beside each):"]
    if "p50_ratio" in a:
        lines.append(f"  p50 at concurrency 1: {_cell(a['p50_c1_ms'])} ms = "
                     f"{_cell(a['p50_ratio'])} x floor ({_cell(a['floor_p50_c1_ms'])} ms)"
                     f"   target <= {TARGET_P50_RATIO} x")
    if "rate_ratio" in a:
        lines.append(f"  completed sagas/s at concurrency 32: {_cell(a['rate_c32_per_s'])} = "
                     f"{_cell(a['rate_ratio'])} x floor ({_cell(a['floor_rate_c32_per_s'])}/s)"
                     f"   target >= {TARGET_RATE_RATIO} x")
    for level in result["levels"]:
        per = level.get("cpu_ms_per_saga_by_process") or {}
        services = sum(v for k, v in per.items()
                       if v is not None and k.split(" ")[0] in ("core", "social"))
        lines.append(f"  CPU ms per saga at concurrency {level['concurrency']}: "
                     + ", ".join(f"{k} {_cell(v)}" for k, v in per.items())
                     + f"; core + social {services:.1f}   target <= {TARGET_CPU_MS_PER_SAGA}")
    for level in result["levels"]:
        if level.get("sql_per_saga"):
            lines.append(f"  SQL statements per saga at concurrency {level['concurrency']}: "
                         + sql_text(level["sql_per_saga"]))
    return "\n".join(lines)


def sql_text(per: Doc) -> str:
    """Statements per request of each service, and how many SQLAlchemy compiled."""
    return ", ".join(f"{name} {_cell(s['per_request'])} ({s['compiled']} of "
                     f"{s['statements']} compiled, target 0)" for name, s in per.items())


def replicas_text(result: Doc) -> str:
    rows = [[r["operation"], r["throughput_1"], r["throughput_2"], r["p99_1"], r["p99_2"]]
            for r in result["comparison"]]
    comparison = table(["operation", "ok/s x1", "ok/s x2", "p99 ms x1", "p99 ms x2"], rows)
    phases = result["phases"].items()
    comparison += ("\nCPU per request (ms): " + ", ".join(
        f"x{n} {_cell(ph['cpu_ms_per_request'])}" for n, ph in phases)
        + "\nCPU of other processes (% of a core): " + ", ".join(
        f"x{n} {_cell(ph['resources']['machine']['other_cpu_percent_of_one_core'])}"
        for n, ph in phases))
    phases = [f"--- {n} replica(s) of each service ---\n{mixed_text(phase)}"
              for n, phase in result["phases"].items()]
    return "\n\n".join(["one vs two replicas of each service:\n" + comparison, *phases])


def header_text(doc: Doc) -> str:
    m, p = doc["machine"], doc["parameters"]
    return (f"benchmark '{doc['scenario']}' at {doc['started_at']} against "
            f"{doc['target']}\nmachine: {m['nproc']} cores, {m['memory_gib']} GiB, "
            f"Python {m['python']} ({m['platform']}); busy {m['busy_before_percent']} % "
            f"of all cores just before the run\nparameters: {p}")


def render_text(doc: Doc) -> str:
    from .ops import ops_text

    body = {"mixed": mixed_text, "saga": saga_text, "replicas": replicas_text,
            "floor": floor_text, "ops": ops_text}[doc["scenario"]]
    text = header_text(doc) + "\n\n" + body(doc["results"]) + "\n"
    profiles = list(_profiles(doc["results"]))
    if profiles:
        text += "\n" + "\n".join(line for label, p in profiles
                                  for line in [f"[{label}]", *render_profiles(p)]) + "\n"
    return text


def _profiles(results: Any, label: str = "") -> Any:
    """Every ``profiles`` summary in the results, with where it was found."""
    if isinstance(results, dict):
        if "profiles" in results:
            yield label or "run", results["profiles"]
        for key, value in results.items():
            if key != "profiles":
                yield from _profiles(value, f"{label} {key}".strip())
    elif isinstance(results, list):
        for i, value in enumerate(results):
            name = value.get("concurrency") if isinstance(value, dict) else None
            yield from _profiles(value, f"{label} c={name}" if name else f"{label}[{i}]")


def write_json(doc: Doc, path: Path) -> None:
    path.write_text(json.dumps(doc, indent=2, default=str) + "\n")


# --------------------------------------------------------------------- charts
def _bars(ax: Any, labels: list[str], series: dict[str, list[float]], ylabel: str,
          log: bool) -> None:
    width = 0.8 / max(1, len(series))
    for i, (name, values) in enumerate(series.items()):
        xs = [x + (i - (len(series) - 1) / 2) * width for x in range(len(labels))]
        ax.bar(xs, [v or 0 for v in values], width, label=name)
    ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
    ax.set_ylabel(ylabel)
    if log:
        ax.set_yscale("log")
    ax.grid(axis="y", alpha=0.3)
    ax.legend()


def _percentile_series(result: Doc) -> tuple[list[str], dict[str, list[float]]]:
    ops = result["operations"]
    labels = [f"{name}\nn={op['ok']}" for name, op in ops.items()]
    lat = [op["latency_ms"] for op in ops.values()]
    lag = result["propagation_lag_ms"]
    if lag["samples"]:
        labels.append(f"propagation lag\n(from 201) n={lag['samples']}")
        lat.append(lag["from_201"])
    return labels, {p: [d[p] for d in lat] for p in ("p50", "p95", "p99")}


def mixed_chart(result: Doc, title: str, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(11, 5.5))
    labels, series = _percentile_series(result)
    _bars(ax, labels, series, "latency (ms, log scale)", log=True)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def saga_chart(result: Doc, title: str, path: Path) -> None:
    levels = result["levels"]
    xs = [lv["concurrency"] for lv in levels]
    ops = [lv["create_post"] for lv in levels]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
    left.plot(xs, [o.get("saga_completed_per_s") or 0 for o in ops], "o-",
              label="completed in the request (201)")
    left.plot(xs, [o.get("throughput_per_s") or 0 for o in ops], "s--",
              label="answered (201 + 202 pending)")
    left.set_ylabel("create_post requests / s")
    left.set_ylim(bottom=0)
    left.legend()
    for p in ("p50", "p99"):
        right.plot(xs, [o.get("saga_completion_ms", {}).get(p) for o in ops], "o-", label=p)
    right.set_ylabel("saga completion latency (ms)")
    right.set_yscale("log")
    right.legend()
    for ax in (left, right):
        ax.set_xscale("log", base=2)
        ax.set_xticks(xs, [str(x) for x in xs])
        ax.set_xlabel("concurrent clients")
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def replicas_chart(result: Doc, title: str, path: Path) -> None:
    rows = [r for r in result["comparison"] if r["operation"] != "TOTAL"]
    labels = [r["operation"] for r in rows]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 8))
    _bars(top, labels, {"1 replica": [r["throughput_1"] for r in rows],
                        "2 replicas": [r["throughput_2"] for r in rows]},
          "ok requests / s", log=False)
    _bars(bottom, labels, {"1 replica": [r["p99_1"] for r in rows],
                           "2 replicas": [r["p99_2"] for r in rows]},
          "p99 latency (ms, log scale)", log=True)
    total = next(r for r in result["comparison"] if r["operation"] == "TOTAL")
    top.set_title(f"{title}\nall requests: {total['throughput_1']}/s with 1 replica, "
                  f"{total['throughput_2']}/s with 2")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_chart(doc: Doc, path: Path) -> None:
    p = doc["parameters"]
    result = doc["results"]
    if doc["scenario"] == "mixed":
        mixed_chart(result, f"mixed workload: latency per operation ({p['clients']} clients, "
                            f"{p['duration']:g} s)", path)
    elif doc["scenario"] == "saga":
        saga_chart(result, f"create_post saga vs concurrency ({p['duration']:g} s per level)",
                   path)
    elif doc["scenario"] == "replicas":
        replicas_chart(result, f"mixed workload, one vs two replicas ({p['clients']} clients, "
                               f"{p['duration']:g} s each)", path)
