"""The Markdown table of a run (``benchmarks/results/latest.md``), from its JSON results."""

from __future__ import annotations


def markdown(results: dict) -> str:
    """Every figure of ``results`` beside its reference, targets first."""
    lines = ["# Benchmark results", "", *_machine(results), ""]
    targets = [t for section in ("webhook_ingestion", "bootstrap", "studio") for t in
               results.get(section, {}).get("targets", [])]
    if targets:
        lines += ["## Targets", "", "| Figure | Target | Measured | Met |", "|---|---|---|---|"]
        lines += [f"| {t['name']} | {t['target']} | {t['measured']} | {'yes' if t['met'] else '**NO**'} |"
                  for t in targets]
        lines.append("")
    for title, section, render in (("Webhook ingestion", "webhook_ingestion", _ingestion),
                                   ("Bootstrap", "bootstrap", _bootstrap),
                                   ("API Studio", "studio", _studio),
                                   ("Token verification", "token_verification", _tokens),
                                   ("Memory (RSS, MiB)", "memory", _memory)):
        if results.get(section):
            lines += [f"## {title}", "", *render(results[section]), ""]
    return "\n".join(lines)


def _machine(results: dict) -> list[str]:
    m, s = results["machine"], results["settings"]
    return [
        f"Run {m['date']} at commit `{m['commit']}` in {results.get('total_seconds', '?')} s: {m['cpu']}, "
        f"{m['cores']} cores, {m['memory_gib']} GiB, Linux {m['kernel']}, Python {m['python']}, "
        f"PostgreSQL {m['postgresql']}, Redis {m['redis']}, {m['wrk']}.",
        f"gunicorn `{s['worker_class']}`, `WEB_CONCURRENCY={s['web_concurrency']}`, "
        f"`GUNICORN_THREADS={s['gunicorn_threads']}`; load runs of {s['seconds_per_load_run']:g} s; "
        f"1-minute load average at start {m['load_average_at_start'][0]}.",
    ]


def _ms(run: dict) -> str:
    return f"{run['p50_ms']:.1f} / {run['p95_ms']:.1f} / {run['p99_ms']:.1f}"


def _ingestion(section: dict) -> list[str]:
    lines = [f"Signed `{section['event']}` deliveries, every body distinct, to `POST /webhooks/time`, "
             f"{section['seconds_per_run']} s per run; the ceiling is a bare Flask endpoint answering 204 under "
             "the same gunicorn settings. The add-on is measured with its one RQ worker (`python worker.py`, as in "
             "the Procfile) processing the deliveries on the same cores, and with that worker paused: the web tier "
             "alone, as when workers run on their own dynos.", "",
             "| Concurrency | Ceiling req/s | Add-on req/s | Share | Add-on, worker paused req/s | Share "
             "| Errors | Accepted | Stored |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for level in section["levels"]:
        addon, alone, ceiling = level["addon"], level["addon_worker_paused"], level["ceiling"]
        lines.append(f"| {level['concurrency']} | {ceiling['requests_per_second']:,.0f} | "
                     f"{addon['requests_per_second']:,.0f} | {level['throughput_ratio']:.0%} | "
                     f"{alone['requests_per_second']:,.0f} | {level['throughput_ratio_worker_paused']:.0%} | "
                     f"{addon['errors'] + alone['errors']} | {addon['accepted'] + alone['accepted']:,} | "
                     f"{level['stored_rows']:,} |")
    lines += ["", "Latency p50 / p95 / p99, ms:", "",
              "| Concurrency | Ceiling | Add-on | Add-on, worker paused |", "|---:|---|---|---|"]
    for level in section["levels"]:
        lines.append(f"| {level['concurrency']} | {_ms(level['ceiling'])} | {_ms(level['addon'])} | "
                     f"{_ms(level['addon_worker_paused'])} |")
    lines += ["", "CPU milliseconds per request, by process (all share the same 2 cores):", "",
              "| Concurrency | Ceiling web | Add-on web | PostgreSQL | RQ worker | wrk | Add-on web, worker paused |",
              "|---:|---:|---:|---:|---:|---:|---:|"]
    for level in section["levels"]:
        figures = level["cpu_ms_per_request"]
        addon = figures["addon"]
        lines.append(f"| {level['concurrency']} | {figures['ceiling']['web']:.2f} | {addon['web']:.2f} | "
                     f"{addon['postgresql']:.2f} | {addon['rq_worker']:.2f} | {addon['load_generator']:.2f} | "
                     f"{figures['addon_worker_paused']['web']:.2f} |")
    processing = section["processing"]
    lines += ["", f"Processed by the one RQ worker in the runs it was not paused in: "
              f"{processing['processed_per_second']:g} events/s, "
              f"{processing['worker_cpu_ms_per_processed_event']:g} ms of worker CPU per event "
              f"(events by status at the end: {', '.join(f'{k} {v:,}' for k, v in processing['by_status'].items())})."]
    return lines


def _bootstrap(section: dict) -> list[str]:
    if "skipped" in section:
        return [f"Not measured: {section['skipped']}"]
    lines = ["| Workers | Requests | Floor s | Wall s | Utilisation | Busiest 1 s window | Windows over budget |",
             "|---:|---:|---:|---:|---:|---:|---:|"]
    for run in section["runs"]:
        lines.append(f"| {run['workers']} | {run['requests']:,} | {run['floor_seconds']:.1f} | "
                     f"{run['wall_seconds']:.1f} | {run['utilisation']:.0%} | {run['max_per_window']} | "
                     f"{run['windows_over_budget']} |")
    return lines


def _studio(section: dict) -> list[str]:
    if "skipped" in section:
        return [f"Not measured: {section['skipped']}"]
    return ["| Figure | Measured | Reference |", "|---|---:|---:|",
            *[f"| {row['name']} | {row['measured']} | {row.get('reference', '')} |" for row in section["rows"]]]


def _tokens(section: dict) -> list[str]:
    names = {"addon_verify": "add-on `TokenVerifier.verify`, token seen before (signature remembered)",
             "addon_verify_first_sight": "add-on `TokenVerifier.verify`, token seen for the first time",
             "bare_jwt_decode": "bare `jwt.decode` (same parsed key)",
             "jwt_decode_parsing_pem_each_time": "`jwt.decode` given the PEM text each time"}
    lines = ["| Verification of one webhook token | median µs | best round µs |", "|---|---:|---:|"]
    lines += [f"| {label} | {section[key]['median_us']:.1f} | {section[key]['min_us']:.1f} |"
              for key, label in names.items()]
    return lines


def _memory(section: dict) -> list[str]:
    lines = ["| After | Web worker (largest) | Web master | RQ worker |", "|---|---:|---:|---:|"]
    for phase, figures in section.items():
        web = figures.get("web", {})
        lines.append(f"| {phase.replace('after_', '').replace('_', ' ')} | {web.get('max_worker_mib', '')} | "
                     f"{web.get('master_mib', '')} | {figures.get('rq_worker_mib', '')} |")
    return lines
