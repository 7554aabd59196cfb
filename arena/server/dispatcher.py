"""The loop that keeps the workers busy: lease jobs, hand them to the executor, renew the
leases while they play (the heartbeat), write what comes back, sweep silent leases, and
let each ladder queue its next round when it runs dry."""
from __future__ import annotations

import concurrent.futures as cf
import logging
import threading
import time
from collections.abc import Callable

from arena.server.executor import Executor, WorkerDied
from arena.server.jobs import Lease, StaleLease
from arena.server.service import Service

log = logging.getLogger("arena.server")


class Dispatcher(threading.Thread):
    def __init__(self, service: Service, executor: Executor, *, idle: Callable[[], None] | None = None,
                 poll: float = 0.2):
        super().__init__(name="arena-dispatcher", daemon=True)
        self.service = service
        self.executor = executor
        self.idle = idle or service.tick  # called when a worker is free and nothing is queued (ladders queue there)
        self.poll = poll
        self.stopping = threading.Event()
        self.inflight: dict[cf.Future, Lease] = {}
        self.errors: list[str] = []

    def stop(self) -> None:
        self.stopping.set()

    def run(self) -> None:
        cfg = self.service.config
        last_beat = time.monotonic()
        while not self.stopping.is_set():
            try:
                self.service.jobs.sweep()
                self._fill(cfg.lease_seconds)
                if len(self.inflight) < self.executor.workers:
                    self.idle()
                    self._fill(cfg.lease_seconds)
                done, _ = cf.wait(list(self.inflight), timeout=self.poll, return_when=cf.FIRST_COMPLETED)
                for future in done:
                    self._finish(future, self.inflight.pop(future))
                if time.monotonic() - last_beat > cfg.lease_seconds / 4:
                    for lease in self.inflight.values():
                        self.service.jobs.heartbeat(lease, cfg.lease_seconds)
                    last_beat = time.monotonic()
                if not self.inflight:
                    self.stopping.wait(self.poll)
            except Exception as err:  # noqa: BLE001  (the loop must outlive any one bad job)
                log.exception("dispatcher: %s", err)
                self.errors.append(str(err))
                self.stopping.wait(1.0)

    def _fill(self, seconds: float) -> None:
        while len(self.inflight) < self.executor.workers:
            lease = self.service.jobs.lease(seconds)
            if lease is None:
                return
            try:
                payload = self.service.payload(lease)
            except Exception as err:  # noqa: BLE001  (an agent file gone, a store error: the job fails, not the loop)
                self.service.fail(lease, {"kind": "infra", "error": f"cannot build the job: {err}"})
                continue
            self.inflight[self.executor.submit(payload, lease.signature)] = lease

    def _finish(self, future: cf.Future, lease: Lease) -> None:
        try:
            out = future.result()
        except WorkerDied as err:
            log.warning("job %s: %s; restarting the workers", lease.job, err)
            self.executor.recover()
            if not getattr(self.executor, "recover_keeps_inflight", False):
                self._requeue_inflight()
            self.service.fail(lease, {"kind": "infra", "error": str(err)})
            return
        except Exception as err:  # noqa: BLE001
            self.service.fail(lease, {"kind": "infra", "error": f"{type(err).__name__}: {err}"})
            return
        try:
            if out["failure"]:
                self.service.fail(lease, out["failure"])
            else:
                self.service.complete(lease, out)
        except StaleLease as err:
            log.info("refused a late result: %s", err)

    def _requeue_inflight(self) -> None:
        """The pool is new: the other jobs it held are gone too."""
        for future, lease in list(self.inflight.items()):
            if not future.done():
                self.inflight.pop(future)
                self.service.jobs.release(lease, "infra", "worker pool restarted", retry=True)
