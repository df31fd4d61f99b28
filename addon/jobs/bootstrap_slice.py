"""One slice of a bootstrap run: a bounded pool of threads paging through the run's listings.

The job's main thread hands listings to the pool (dependents once their parent listing is done),
renews the run's heartbeat, checks every second that the run may go on, and stops the slice at
its deadline, on a warm shutdown, or when Clockify throttles the workspace for longer than a
thread may wait for a slot. Each thread fetches one listing's pages one after the other through
the shared client (every request takes a slot of the workspace's rate limit, whichever process
sends it) and, after each page, stores the entities and moves the listing's checkpoint in one
transaction. Threads run in a copy of the job's context, so they log and send its request id.
"""

from __future__ import annotations

import contextvars
import enum
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from rq.exceptions import ShutDownImminentException

from ..clockify.client import ClockifyError, ClockifyUnavailable, RateLimitExceeded, join_url, retry_after_seconds
from ..extensions import db
from ..models import BootstrapRun, CheckpointState
from ..outbound import get_client
from ..store import bootstrap_runs, workspace_data
from ..store.bootstrap_runs import Checkpoint
from .bootstrap_plan import (
    MAX_PAGES,
    PlannedOp,
    base_ops,
    dependent_ops,
    entity_id,
    expansions,
    extract_items,
    is_last_page,
    page_params,
)

log = logging.getLogger(__name__)

CHECK_SECONDS = 1.0
# A thread waits this long at most for a rate-limit slot; a longer wait (a 429's Retry-After)
# ends the slice instead, and a continuation is scheduled for when the slots come back.
SLOT_WAIT_SECONDS = 10.0
# Retry-After read from a 429 left after the client's retries (the client caps nothing here).
MAX_RETRY_AFTER_SECONDS = 24 * 3600.0
THROTTLE_FALLBACK_SECONDS = 60.0


class Interruption(enum.StrEnum):
    """Why a slice stopped before every listing was settled."""

    TIME_UP = "time_up"        # deadline or warm shutdown: continue at once
    THROTTLED = "throttled"    # the workspace's slots are far away: continue at ``retry_after``
    ENDED = "ended"            # the run may not go on (cancelled, failed, finished)


class _Listing(enum.StrEnum):
    DONE = "done"
    FAILED = "failed"
    STOPPED = "stopped"
    THROTTLED = "throttled"


@dataclass
class SliceResult:
    """What a slice achieved: every listing settled, or why it stopped."""

    settled: bool = False
    interruption: Interruption | None = None
    retry_after: float = 0.0
    ended_as: str | None = None
    failures: list[BaseException] = field(default_factory=list)


def thread_count(rate: float) -> int:
    """Threads of a run: enough to keep ``rate`` requests/s going when a page costs ~400 ms
    (Clockify's answer, then storing it on a busy host), 2 to 20. More would only queue for
    slots and hold database connections (the pool has 15)."""
    return max(2, min(20, math.ceil(rate * 0.4)))


class RunSlice:
    """Works on one run until its listings are settled, its deadline passes or it must stop.

    :param check: called about every second in the job's thread; returns the run's final state
        when it may not go on (cancelled...), else None.
    """

    def __init__(self, app, run: BootstrapRun, *, token: str, api_url: str, seconds: float,
                 check: Callable[[], str | None]):
        self.app = app
        self.run_id, self.workspace_id, self.sources = run.id, run.workspace_id, run.sources
        self.window = {"start": run.window_start, "end": run.window_end}
        self.expansions = expansions(run.sources)
        self.token, self.api_url = token, api_url
        self.settings = app.config["SETTINGS"]
        self.client = get_client()
        self.deadline = time.monotonic() + seconds
        self.check = check
        self.stop = threading.Event()
        self.result = SliceResult()

    def work(self) -> SliceResult:
        """Run the slice; the result says whether the run is ready to finalize."""
        done = bootstrap_runs.checkpoints(self.run_id)
        todo = deque(self.pending(done))
        size = thread_count(self.settings.rate_limit_rps)
        running: dict[Future, PlannedOp] = {}
        next_check = time.monotonic() + CHECK_SECONDS
        with ThreadPoolExecutor(max_workers=size, thread_name_prefix=f"bootstrap-{self.run_id}") as pool:
            try:
                while True:
                    while todo and len(running) < size and not self.stop.is_set():
                        op = todo.popleft()
                        # Each task runs in its own copy of this context: request id, workspace id.
                        running[pool.submit(contextvars.copy_context().run, self._list, op,
                                            done.get(op.key, Checkpoint()))] = op
                    if not running:
                        break
                    finished, _ = wait(running, timeout=CHECK_SECONDS, return_when=FIRST_COMPLETED)
                    for future in finished:
                        op = running.pop(future)
                        if future.result() == _Listing.DONE and op.parent is None \
                                and op.source in self.expansions:
                            todo.extend(self._dependents(op.source))
                    if time.monotonic() >= next_check:
                        next_check = time.monotonic() + CHECK_SECONDS
                        self._check()
                    if time.monotonic() >= self.deadline:
                        self._interrupt(Interruption.TIME_UP)
            except ShutDownImminentException:
                log.warning("bootstrap run %s: worker shutting down; ending the slice early", self.run_id)
                db.session.rollback()  # the signal may have interrupted this thread's statement
                self._interrupt(Interruption.TIME_UP)
            finally:
                self.stop.set()
        if self.result.interruption is None and not self.result.failures:
            self.result.settled = not self.pending(bootstrap_runs.checkpoints(self.run_id))
        db.session.commit()
        return self.result

    def pending(self, done: dict[str, Checkpoint]) -> list[PlannedOp]:
        """The listings not settled yet, dependents of finished parents included."""
        ops = base_ops(self.workspace_id, self.sources)
        for parent in self.expansions:
            key = next((op.key for op in ops if op.source == parent), None)
            if key is not None and done.get(key, Checkpoint()).state == CheckpointState.DONE:
                ops += self._dependents(parent)
        return [op for op in ops if not done.get(op.key, Checkpoint()).settled]

    def _dependents(self, parent_source: str) -> list[PlannedOp]:
        parent_ids = workspace_data.seen_ids(self.workspace_id, parent_source, self.run_id)
        db.session.commit()
        return dependent_ops(self.workspace_id, parent_source, parent_ids, self.window)

    def _interrupt(self, why: Interruption, retry_after: float = 0.0) -> None:
        if self.result.interruption is None or why == Interruption.ENDED:
            self.result.interruption = why
        self.result.retry_after = max(self.result.retry_after, retry_after)
        self.stop.set()

    def _check(self) -> None:
        bootstrap_runs.heartbeat(self.run_id)
        db.session.commit()
        ended_as = self.check()
        if ended_as is not None:
            self.result.ended_as = ended_as
            self._interrupt(Interruption.ENDED)

    # -- one listing, on a pool thread -------------------------------------------------------
    def _list(self, op: PlannedOp, checkpoint: Checkpoint) -> _Listing:
        with self.app.app_context():
            try:
                return self._pages(op, checkpoint)
            except Exception as exc:  # any thread's failure fails the job, so RQ retries it
                log.exception("bootstrap run %s: %s failed", self.run_id, op.key)
                db.session.rollback()
                self.result.failures.append(exc)
                self.stop.set()
                return _Listing.STOPPED

    def _pages(self, op: PlannedOp, checkpoint: Checkpoint) -> _Listing:
        page, items_total = checkpoint.next_page, checkpoint.items
        url = join_url(self.api_url, op.path)
        page_size = op.operation.page_size(self.settings.bootstrap_page_size)
        while not self.stop.is_set():
            try:
                response = self.client.request("GET", url, workspace_id=self.workspace_id, token=self.token,
                                               params=page_params(op, page, page_size), wait=SLOT_WAIT_SECONDS)
            except RateLimitExceeded as exc:
                return self._throttled(op, exc.retry_after)
            except ClockifyUnavailable as exc:
                return self._settle(op, page, items_total, "unreachable", str(exc))
            except ClockifyError as exc:
                return self._settle(op, page, items_total, "error", str(exc))
            if response.status == 429:
                retry_after = retry_after_seconds(response.header("Retry-After"), MAX_RETRY_AFTER_SECONDS)
                return self._throttled(op, THROTTLE_FALLBACK_SECONDS if retry_after is None else retry_after)
            if not response.ok:
                return self._settle(op, page, items_total, response.status, response.error_message())
            try:
                items = extract_items(op, response.body)
            except ValueError as exc:
                return self._settle(op, page, items_total, "bad_response", str(exc))
            last = (not op.operation.paginated or is_last_page(response.header("Last-Page"), len(items), page_size)
                    or page >= MAX_PAGES)
            items_total += self._store(op, items, last, Checkpoint(page + 1, 0, CheckpointState.DONE if last
                                                                   else CheckpointState.RUNNING), items_total)
            if last:
                return _Listing.DONE
            page += 1
        return _Listing.STOPPED

    def _store(self, op: PlannedOp, items: list[dict], last: bool, moved: Checkpoint, items_before: int) -> int:
        entities = {entity_id(op, item, self.workspace_id): item for item in items}
        bootstrap_runs.relax_durability()
        stored = workspace_data.upsert(self.workspace_id, op.source, sorted(entities.items()), self.run_id)
        if last and op.parent is None and op.source in self.expansions:
            # Its dependents join the run's total in the same transaction that settles it.
            bootstrap_runs.add_operations(
                self.run_id, len(workspace_data.seen_ids(self.workspace_id, op.source, self.run_id)))
        bootstrap_runs.save_checkpoint(self.run_id, self.workspace_id, op.key, op.source,
                                       Checkpoint(moved.next_page, items_before + stored, moved.state))
        db.session.commit()
        return stored

    def _throttled(self, op: PlannedOp, retry_after: float) -> _Listing:
        log.warning("bootstrap run %s: %s throttled; slots come back in %.0f s", self.run_id, op.key, retry_after)
        self._interrupt(Interruption.THROTTLED, retry_after)
        return _Listing.THROTTLED

    def _settle(self, op: PlannedOp, page: int, items_total: int, status, message: str) -> _Listing:
        """Record a failed listing: settled, not retried (the client already retried what may be)."""
        log.warning("bootstrap run %s: %s failed (%s)", self.run_id, op.key, status)
        bootstrap_runs.save_checkpoint(self.run_id, self.workspace_id, op.key, op.source,
                                       Checkpoint(page, items_total, CheckpointState.FAILED),
                                       error={"operation": op.key, "status": status, "message": message})
        db.session.commit()
        return _Listing.FAILED
