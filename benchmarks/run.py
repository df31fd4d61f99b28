"""``make bench``: start the real stack on 127.0.0.1 and measure it, each figure beside its
reference, then write ``benchmarks/results/latest.json`` and ``latest.md``.

    python -m benchmarks.run [--seconds 10] [--sections ingestion,bootstrap,studio,tokens]

The stack: PostgreSQL and Redis (the benchmark's own database and Redis index, emptied first),
the migrations, gunicorn with ``WEB_CONCURRENCY`` workers and the project's ``gunicorn.conf.py``
running ``wsgi:app`` with ``ADDON_ENV=production``, ``python worker.py`` RQ workers, the ceiling
app under the same gunicorn settings, and the fake Clockify (in this process).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from addon.testkit.fake_clockify import FakeClockify

from . import bootstrap, environment, ingestion, memory, report, studio, tokens
from .environment import BenchEnvironment
from .load import require_wrk
from .stack import Stack, free_port, wait_http

RESULTS = Path(__file__).with_name("results")
SECTIONS = ("tokens", "ingestion", "bootstrap", "studio")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=10, help="length of each load run (default 10)")
    parser.add_argument("--sections", default=",".join(SECTIONS), help=f"comma list among {', '.join(SECTIONS)}")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where latest.json and latest.md go")
    args = parser.parse_args(argv)
    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = [s for s in sections if s not in SECTIONS]
    if unknown:
        parser.error(f"unknown section {unknown[0]!r}")
    require_wrk()

    started = time.monotonic()
    bench = BenchEnvironment()
    environment.reset_storage()
    results: dict = {"machine": environment.machine(),
                     "settings": {"web_concurrency": bench.web_concurrency, "gunicorn_threads": bench.gunicorn_threads,
                                  "worker_class": "gthread", "seconds_per_load_run": args.seconds},
                     "memory": {}}
    engine = environment.engine()
    with tempfile.TemporaryDirectory(prefix="addon-bench-") as scratch, \
            Stack(bench.variables(), Path(scratch) / "logs") as stack, \
            FakeClockify(latency=bootstrap.LATENCY) as fake:
        stack.run([sys.executable, "-m", "flask", "--app", "wsgi:app", "db", "upgrade"], "migrations")
        addon_port = free_port()
        web = stack.gunicorn("wsgi:app", addon_port, bench.web_concurrency, "web")
        addon_url = f"http://127.0.0.1:{addon_port}"
        try:
            wait_http(f"{addon_url}/ready", status=200)
            if "tokens" in sections:
                _log("token verification")
                results["token_verification"] = tokens.measure(bench.signer)
            if "ingestion" in sections:
                results["webhook_ingestion"] = _ingestion(stack, bench, engine, addon_url, web, fake, args.seconds,
                                                          results)
            if {"bootstrap", "studio"} & set(sections):
                stack.stop_process(web)
                web = stack.gunicorn("wsgi:app", addon_port, bench.web_concurrency, "web-outbound",
                                     env=environment.OUTBOUND_OVERRIDES)
                wait_http(f"{addon_url}/ready", status=200)
            if "bootstrap" in sections:
                _log("bootstrap")
                results["bootstrap"] = bootstrap.measure(stack, bench, engine, fake=fake, addon_url=addon_url,
                                                         rate_limit_rps=int(bench.variables()["RATE_LIMIT_RPS"]))
                results["memory"]["after_bootstrap"] = {"rq_worker_mib": max(
                    rss for sizes in results["bootstrap"]["worker_rss_mib"].values() for rss in sizes)}
            if "studio" in sections:
                _log("API Studio")
                results["studio"] = studio.measure(stack, bench, fake=fake, addon_url=addon_url, web=web)
                results["memory"]["after_studio"] = {"web": memory.web(web)}
        except Exception:
            _log(f"failed; process logs are in {stack.log_dir}:")
            for log in sorted(stack.log_dir.glob("*.log")):
                print(f"--- {log.name}\n{log.read_text()[-3000:]}", file=sys.stderr)
            raise
    engine.dispose()
    results["total_seconds"] = round(time.monotonic() - started, 1)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "latest.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.out / "latest.md").write_text(report.markdown(results))
    _log(f"done in {results['total_seconds']} s: {args.out / 'latest.md'}")
    print((args.out / "latest.md").read_text())
    return 0


def _ingestion(stack: Stack, bench: BenchEnvironment, engine, addon_url: str, web, fake: FakeClockify,
               seconds: int, results: dict) -> dict:
    _log("webhook ingestion")
    ceiling_port = free_port()
    ceiling = stack.gunicorn("benchmarks.ceiling_app:app", ceiling_port, bench.web_concurrency, "ceiling")
    ceiling_url = f"http://127.0.0.1:{ceiling_port}"
    wait_http(f"{ceiling_url}/webhooks/time", timeout=30)
    worker = stack.worker("worker-ingestion")
    figures = ingestion.measure(stack, bench, engine, ceiling=ingestion.Server(ceiling_url, ceiling),
                                addon=ingestion.Server(addon_url, web), worker=worker,
                                api_url=ingestion.UNCALLED_API_URL,
                                seconds=seconds)
    results["memory"]["after_ingestion"] = {"web": memory.web(web), "ceiling_web": memory.web(ceiling),
                                            "rq_worker_mib": memory.rq_worker(worker)}
    stack.stop_process(worker)
    stack.stop_process(ceiling)
    ingestion.clear(engine)
    return figures


def _log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
