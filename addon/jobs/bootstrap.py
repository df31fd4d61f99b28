"""The workspace bootstrap: every workspace-level listing of the spec, then tasks per project and
time entries per user, paginated, upserted into ``workspace_data``.

How a run executes
* ``run_bootstrap`` (the job ``request_bootstrap`` enqueues) starts the run, fans out one extra
  part per other worker listening on the bootstrap queue (at most ``MAX_PARTS``), and works as
  part 0. ``run_bootstrap_part`` is the body of every part.
* A part runs a pool of threads (enough to keep ``RATE_LIMIT_RPS`` busy at a few hundred ms of
  latency). Each thread claims an operation (``bootstrap_coordination``), fetches its pages one
  after the other through the shared client (so every request takes a slot of the workspace's
  rate limit, whichever process sends it), and after each page upserts the entities and moves the
  operation's checkpoint in one transaction. Dependents (tasks, time entries) appear once their
  parent listing is done.
* A part works for at most ``SLICE_SECONDS``, then enqueues its continuation at the back of the
  bootstrap queue, so webhook and lifecycle jobs (higher-priority queues) are never starved for
  longer than a slice. A warm shutdown ends the slice early the same way.
* The last part to see every operation settled finalizes: removes the entities the run did not
  see (per source, only when all of its listings succeeded; time entries only inside the run's
  window) and marks the run ``completed`` (``failed`` if every operation failed).
* A deleted or inactive installation cancels the run (checked every second).
* A SIGKILLed worker leaves its claims and an expiring lease. Live parts take its operations over;
  if none is left, the workers' periodic sweep (``resume_abandoned``) enqueues a resume part,
  which continues from the checkpoints.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from flask import current_app
from rq import Worker, get_current_job
from rq.exceptions import ShutDownImminentException

from ..clockify.bootstrap_operations import EXPANSIONS, operation_by_id
from ..clockify.client import ClockifyError, ClockifyUnavailable, HostNotAllowed, RateLimitExceeded, join_url
from ..extensions import db
from ..models import InstallationStatus, utcnow
from ..outbound import get_client
from ..queueing import BOOTSTRAP, get_queue, get_redis
from ..store import bootstrap_runs, installations, workspace_data
from . import schedule
from .bootstrap_coordination import LEASE_SECONDS, RunCoordination
from .bootstrap_plan import (
    MAX_PAGES,
    PlannedOp,
    base_ops,
    dependent_ops,
    entity_id,
    extract_items,
    is_last_page,
    page_params,
    time_window,
)
from .callbacks import app_context

log = logging.getLogger(__name__)

SLICE_SECONDS = 30.0
HEARTBEAT_SECONDS = LEASE_SECONDS / 3
POLL_SECONDS = 0.1
CHECK_SECONDS = 1.0
MAX_PARTS = 4
MAX_RESUMES = 5
SLOT_WAIT_SECONDS = 30.0
REFRESH_SECONDS = 0.25
IDLE_POLL_SECONDS = 0.2


def run_bootstrap(workspace_id: str, bootstrap_job_id: int) -> str:
    """Job: start run ``bootstrap_job_id`` of ``workspace_id`` and work on it as part 0."""
    run = bootstrap_runs.snapshot(bootstrap_job_id)
    if run is None or not run.active:
        return "finished"
    installation = installations.get(workspace_id)
    if installation is None or installation.status != InstallationStatus.ACTIVE.value:
        return _cancel(bootstrap_job_id)
    if run.status == "pending" and _api_allowed(bootstrap_job_id, installation.api_url) \
            and _start(workspace_id, bootstrap_job_id):
        for part in range(1, _part_count()):
            schedule.bootstrap_part(workspace_id, bootstrap_job_id, part, "s0")
    return run_bootstrap_part(workspace_id, bootstrap_job_id, 0, "s0")


def run_bootstrap_part(workspace_id: str, bootstrap_job_id: int, part: int, slice_label: str,
                       slice_seconds: float | None = None) -> str:
    """Job: work on run ``bootstrap_job_id`` for one slice.

    :return: ``completed``, ``failed``, ``cancelled``, ``continued`` (a continuation was
        enqueued), ``left`` (other parts hold what remains) or ``finished`` (nothing to do).
    """
    outcome = _work_on(workspace_id, bootstrap_job_id, SLICE_SECONDS if slice_seconds is None else slice_seconds)
    if outcome == "continue":
        schedule.bootstrap_part(workspace_id, bootstrap_job_id, part, _next_slice(slice_label), slice_seconds)
        return "continued"
    return outcome


def _work_on(workspace_id: str, run_id: int, slice_seconds: float) -> str:
    run = bootstrap_runs.snapshot(run_id)
    if run is None or not run.active:
        return "finished"
    installation = installations.get(workspace_id)
    if installation is None or installation.status != InstallationStatus.ACTIVE.value:
        return _cancel(run_id)
    if not _api_allowed(run_id, installation.api_url):
        return "failed"
    if run.status == "pending":  # a resume of a run whose first job never started it
        _start(workspace_id, run_id)
    part = _Part(current_app._get_current_object(), workspace_id, run_id, token=installation.installation_token,
                 api_url=installation.api_url, slice_seconds=slice_seconds)
    db.session.commit()
    return part.run()


def _api_allowed(run_id: int, api_url: str) -> bool:
    """False (and the run failed) when the installation's API host is refused: nothing is sent."""
    try:
        get_client().hosts.check(api_url)
    except HostNotAllowed as refused:
        bootstrap_runs.add_error(run_id, {"operation": "bootstrap", "status": "host_not_allowed",
                                          "message": str(refused)})
        bootstrap_runs.finish(run_id, "failed")
        db.session.commit()
        return False
    return True


def _start(workspace_id: str, run_id: int) -> bool:
    settings = current_app.config["SETTINGS"]
    started = bootstrap_runs.start(run_id, len(base_ops(workspace_id)),
                                   time_window(settings.bootstrap_time_entries_days, utcnow()))
    db.session.commit()
    return started


def resume_abandoned() -> int:
    """Sweep (run by the workers every few seconds): enqueue a resume part for every active run
    that no live part works on and no queued job will start; cancel runs of installations that
    are no longer active. Returns how many runs were resumed."""
    resumed = 0
    for run in bootstrap_runs.active_runs():
        coordination = RunCoordination(get_redis(), run.id)
        if coordination.any_alive() or coordination.has_waiting_job():
            continue
        installation = installations.get(run.workspace_id)
        if installation is None or installation.status != InstallationStatus.ACTIVE.value:
            _cancel(run.id)
            continue
        count = coordination.next_resume()
        if count > MAX_RESUMES:
            bootstrap_runs.add_error(run.id, {"operation": "bootstrap", "status": "abandoned",
                                              "message": f"workers were lost {count - 1} times; giving up"})
            bootstrap_runs.finish(run.id, "failed")
            db.session.commit()
            continue
        log.warning("bootstrap run %s of %s has no live worker; resuming (%d)", run.id, run.workspace_id, count)
        schedule.bootstrap_part(run.workspace_id, run.id, 0, f"resume{count}-s0")
        resumed += 1
    return resumed


def record_job_failure(job, connection, exc_type, exc_value, traceback) -> None:
    """RQ failure callback of bootstrap jobs: record the error on the run; on the last attempt,
    with no live part left, fail the run."""
    with app_context():
        workspace_id, run_id = job.args[0], job.args[1]
        run = bootstrap_runs.snapshot(run_id)
        if run is None or not run.active:
            return
        bootstrap_runs.add_error(run_id, {"operation": "bootstrap", "status": "job_failed",
                                          "message": f"{exc_type.__name__}: {exc_value}"[:300]})
        if not job.retries_left and not RunCoordination(get_redis(), run_id).any_alive():
            bootstrap_runs.finish(run_id, "failed")
        db.session.commit()
        log.error("bootstrap job %s of %s failed: %s", job.id, workspace_id, exc_type.__name__)


def run_now(workspace_id: str) -> dict:
    """Run a bootstrap of ``workspace_id`` in this process, without slices (``flask bootstrap
    run``), and return its status body. A run already in progress is reported, not duplicated."""
    run, created = schedule.request_bootstrap(workspace_id, "cli", enqueue=False)
    if created:
        _work_on(workspace_id, run.id, float("inf"))
    return bootstrap_runs.status_body(bootstrap_runs.get(run.id))


def _cancel(run_id: int) -> str:
    bootstrap_runs.finish(run_id, "cancelled")
    db.session.commit()
    return "cancelled"


def _part_count() -> int:
    """One part per worker listening on the bootstrap queue, at most ``MAX_PARTS``."""
    if get_current_job() is None:
        return 1
    return max(1, min(MAX_PARTS, Worker.count(queue=get_queue(BOOTSTRAP))))


def _next_slice(label: str) -> str:
    prefix = label.rstrip("0123456789")
    number = label[len(prefix):]
    return f"{prefix}{int(number) + 1 if number else 1}"


@dataclass
class _Progress:
    """What the part's threads share: the run's plan as last read, and the ops in progress."""

    todo: deque = field(default_factory=deque)
    in_progress: set = field(default_factory=set)
    parents_settled: bool = False
    complete: bool = False
    refreshed_at: float = 0.0


class _Part:
    """One slice of one part: threads claiming and paging through operations."""

    def __init__(self, app, workspace_id: str, run_id: int, *, token: str, api_url: str, slice_seconds: float):
        self.app = app
        self.workspace_id, self.run_id = workspace_id, run_id
        self.token, self.api_url = token, api_url
        self.settings = app.config["SETTINGS"]
        self.client = get_client()
        self.coordination = RunCoordination(get_redis(), run_id)
        self.slice_seconds = slice_seconds
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.progress = _Progress()
        self.failures: list[BaseException] = []
        self.part_token = ""
        self._parent_ids: dict[str, list[str]] = {}

    def run(self) -> str:
        self.part_token = self.coordination.join()
        beating = threading.Event()
        # The lease is renewed on a thread of its own, so a slow database call never lets it lapse.
        heartbeat = threading.Thread(target=self._beat, args=(beating,), name=f"bootstrap-{self.run_id}-lease",
                                     daemon=True)
        heartbeat.start()
        threads = [threading.Thread(target=self._work, name=f"bootstrap-{self.run_id}-{i}", daemon=True)
                   for i in range(_thread_count(self.settings.rate_limit_rps, _part_count()))]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + self.slice_seconds
        next_check = time.monotonic()
        cancelled = interrupted = False
        try:
            while any(t.is_alive() for t in threads):
                time.sleep(POLL_SECONDS)
                now = time.monotonic()
                if now >= deadline and not self.stop.is_set():
                    interrupted = True
                    self.stop.set()
                if now >= next_check:
                    next_check = now + CHECK_SECONDS
                    if not self._still_wanted():
                        cancelled = True
                        self.stop.set()
        except ShutDownImminentException:
            # Warm shutdown: stop at the next page boundary and let a continuation carry on.
            log.warning("bootstrap run %s: worker shutting down; ending the slice early", self.run_id)
            interrupted = True
        finally:
            self.stop.set()
            for thread in threads:
                thread.join()
            beating.set()
            heartbeat.join()
            self.coordination.leave(self.part_token)
        if self.failures:
            raise self.failures[0]
        if cancelled:
            return _cancel(self.run_id)
        with self.lock:
            self._refresh()
            complete = self.progress.complete
        if complete:
            return self._finalize()
        return "continue" if interrupted else "left"

    # -- threads ---------------------------------------------------------------------------
    def _beat(self, done: threading.Event) -> None:
        while not done.wait(HEARTBEAT_SECONDS):
            try:
                self.coordination.heartbeat(self.part_token)
            except Exception:  # Redis blinked: the next beat tries again; the lease has slack
                log.warning("bootstrap run %s: lease renewal failed", self.run_id)

    def _work(self) -> None:
        with self.app.app_context():
            try:
                while not self.stop.is_set():
                    op = self._next_op()
                    if op is None:
                        if self._may_leave():
                            return
                        self.stop.wait(IDLE_POLL_SECONDS)
                        continue
                    try:
                        self._process(op)
                    finally:
                        with self.lock:
                            self.progress.in_progress.discard(op.key)
            except Exception as exc:  # any thread's failure fails the part, so RQ retries it
                log.exception("bootstrap run %s: worker thread failed", self.run_id)
                db.session.rollback()
                self.failures.append(exc)
                self.stop.set()

    def _next_op(self) -> PlannedOp | None:
        with self.lock:
            progress = self.progress
            if not progress.todo and time.monotonic() - progress.refreshed_at >= REFRESH_SECONDS:
                self._refresh()
            while progress.todo:
                op = progress.todo.popleft()
                if op.key in progress.in_progress:
                    continue
                if self.coordination.claim(op.key, self.part_token):
                    progress.in_progress.add(op.key)
                    return op
            return None

    def _may_leave(self) -> bool:
        """Leave when nothing is claimable or in progress here and no new dependents can appear."""
        with self.lock:
            progress = self.progress
            return progress.complete or (not progress.in_progress and not progress.todo
                                         and progress.parents_settled)

    def _refresh(self) -> None:
        """Re-read the run (caller holds ``self.lock``): pending ops, and which are free."""
        run = bootstrap_runs.snapshot(self.run_id)
        db.session.commit()
        progress = self.progress
        progress.refreshed_at = time.monotonic()
        if run is None or not run.active:
            progress.todo.clear()
            progress.parents_settled = progress.complete = True
            return
        states = run.ops
        ops = base_ops(self.workspace_id)
        parents_settled = True
        for parent in EXPANSIONS:
            state = states.get(_parent_key(ops, parent), {}).get("state")
            if state == "done":
                ops += dependent_ops(self.workspace_id, parent, self._parents(parent), run.window)
            elif state != "failed":
                parents_settled = False
        pending = [op for op in ops if states.get(op.key, {}).get("state") not in ("done", "failed")]
        held = self.coordination.held_by_others(self.part_token) if pending else set()
        progress.todo = deque(op for op in pending if op.key not in held and op.key not in progress.in_progress)
        progress.parents_settled = parents_settled
        progress.complete = parents_settled and not pending

    def _parents(self, parent_source: str) -> list[str]:
        if parent_source not in self._parent_ids:
            ids = workspace_data.seen_ids(self.workspace_id, parent_source, self.run_id)
            db.session.commit()
            self._parent_ids[parent_source] = ids
        return self._parent_ids[parent_source]

    # -- one operation ---------------------------------------------------------------------
    def _process(self, op: PlannedOp) -> None:
        # Read the checkpoint afresh: a dead part may have moved it since the last refresh.
        state = bootstrap_runs.op_state(self.run_id, op.key)
        db.session.commit()
        page, items_total = int(state.get("page") or 1), int(state.get("items") or 0)
        url = join_url(self.api_url, op.path)
        page_size = op.operation.page_size(self.settings.bootstrap_page_size)
        while not self.stop.is_set():
            try:
                response = self.client.request("GET", url, workspace_id=self.workspace_id, token=self.token,
                                               params=page_params(op, page, page_size), wait=SLOT_WAIT_SECONDS)
            except RateLimitExceeded:
                continue
            except ClockifyUnavailable as exc:
                self._settle(op, page, items_total, "unreachable", str(exc))
                return
            except ClockifyError as exc:
                self._settle(op, page, items_total, "error", str(exc))
                return
            if not response.ok:
                self._settle(op, page, items_total, response.status, response.error_message())
                return
            try:
                items = extract_items(op, response.body)
            except ValueError as exc:
                self._settle(op, page, items_total, "bad_response", str(exc))
                return
            entities = {entity_id(op, item, self.workspace_id): item for item in items}
            bootstrap_runs.relax_durability()
            last = (not op.operation.paginated
                    or is_last_page(response.header("Last-Page"), len(items), page_size)
                    or page >= MAX_PAGES)
            stored = workspace_data.upsert(self.workspace_id, op.source, sorted(entities.items()), self.run_id)
            items_total += stored
            if last and op.parent is None and op.source in EXPANSIONS:
                # Its dependents join the run's total in the same transaction that settles it.
                bootstrap_runs.add_operations(
                    self.run_id, len(workspace_data.seen_ids(self.workspace_id, op.source, self.run_id)))
            bootstrap_runs.record_op(self.run_id, op.key,
                                     {"page": page + 1, "items": items_total, "state": "done" if last else "running"},
                                     items=stored, settled=last)
            db.session.commit()
            if last:
                self._after_done(op)
                return
            page += 1

    def _settle(self, op: PlannedOp, page: int, items_total: int, status, message: str) -> None:
        """Record a failed operation: settled, not retried (the client already retried what may be)."""
        log.warning("bootstrap run %s: %s failed (%s)", self.run_id, op.key, status)
        bootstrap_runs.record_op(self.run_id, op.key, {"page": page, "items": items_total, "state": "failed"},
                                 settled=True, error={"operation": op.key, "status": status, "message": message})
        db.session.commit()

    def _after_done(self, op: PlannedOp) -> None:
        with self.lock:
            self.progress.refreshed_at = 0.0  # re-read soon: dependents may have appeared
        if op.parent is None and op.source in EXPANSIONS:
            log.info("bootstrap run %s: %s done; expanding", self.run_id, op.key)

    def _still_wanted(self) -> bool:
        installation = installations.get(self.workspace_id)
        run = bootstrap_runs.snapshot(self.run_id)
        db.session.commit()
        return (installation is not None and installation.status == InstallationStatus.ACTIVE.value
                and run is not None and run.active)

    # -- the end ---------------------------------------------------------------------------
    def _finalize(self) -> str:
        run = bootstrap_runs.snapshot(self.run_id)
        if run is None or not run.active or not self.coordination.finalize_lock():
            return "finished"
        states = run.ops
        ops = base_ops(self.workspace_id)
        by_source: dict[str, list[PlannedOp]] = {}
        for parent, (operation_id, _) in EXPANSIONS.items():
            if states.get(_parent_key(ops, parent), {}).get("state") == "done":
                # Listed in full even with no parents at all: then every stored one has gone.
                by_source[operation_by_id(operation_id).source] = []
                ops += dependent_ops(self.workspace_id, parent, self._parents(parent), run.window)
        for op in ops:
            by_source.setdefault(op.source, []).append(op)
        for source, source_ops in by_source.items():
            if all(states.get(op.key, {}).get("state") == "done" for op in source_ops) \
                    and self._parent_done(source_ops, states):
                self._remove_unseen(source, run)
        failed = all(states.get(op.key, {}).get("state") == "failed" for op in ops)
        status = "failed" if failed else "completed"
        bootstrap_runs.finish(self.run_id, status)
        db.session.commit()
        self.coordination.forget()
        log.info("bootstrap run %s of %s %s", self.run_id, self.workspace_id, status)
        return status

    def _parent_done(self, source_ops: list[PlannedOp], states: dict) -> bool:
        parents = {op.parent for op in source_ops if op.parent is not None}
        ops = base_ops(self.workspace_id)
        return all(states.get(_parent_key(ops, parent), {}).get("state") == "done" for parent in parents)

    def _remove_unseen(self, source: str, run) -> None:
        if source != "time-entries":
            workspace_data.delete_not_seen(self.workspace_id, source, self.run_id, fetched_before=run.started_at)
            return
        # Entries outside the run's window were not listed: only those inside it can have gone.
        window_start = run.window["start"]
        stale = [row.id for row in workspace_data.not_seen(self.workspace_id, source, self.run_id, run.started_at)
                 if _entry_start(row.data) >= window_start]
        workspace_data.delete_ids(self.workspace_id, stale)


def _parent_key(ops: list[PlannedOp], parent_source: str) -> str:
    return next(op.key for op in ops if op.source == parent_source and op.parent is None)


def _entry_start(data: dict) -> str:
    interval = data.get("timeInterval") if isinstance(data, dict) else None
    start = interval.get("start") if isinstance(interval, dict) else None
    return start if isinstance(start, str) else ""


def _thread_count(rate: int, parts: int) -> int:
    """Threads of one part: together, the parts keep ``rate`` requests/s going at ~250 ms per
    request (2 to 12 each). More threads would only queue for slots and crowd the CPU."""
    return max(2, min(12, math.ceil(rate * 0.25 / parts)))
