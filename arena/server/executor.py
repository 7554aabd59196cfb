"""Executors play jobs somewhere else than the server's process, so a crashing or
memory-hungry match never takes the server down. The local one is a pool of spawned worker
processes; `ray_backend.RayExecutor` is the same interface over Ray actors."""
from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
from typing import Protocol

from arena.server.worker import init_process, play_in_process


class Executor(Protocol):
    workers: int
    # False: recover() restarts every worker, so the other jobs in flight are lost too (the
    # dispatcher queues them again); True: it replaces only the dead ones and the rest play on.
    recover_keeps_inflight: bool

    def submit(self, job: dict, signature: str) -> cf.Future: ...

    def recover(self) -> None:
        """After a worker died: make the pool usable again."""

    def close(self) -> None: ...


class WorkerDied(Exception):
    """A worker process or actor died mid-job (an infra failure: the job is retried)."""


class LocalExecutor:
    recover_keeps_inflight = False  # a broken process pool takes all its jobs with it

    def __init__(self, workers: int = 1, scratch: str | None = None):
        self.workers = workers
        self.scratch = scratch
        self.pool = self._new_pool()

    def _new_pool(self) -> cf.ProcessPoolExecutor:
        # spawn, not fork: the server process has threads (uvicorn, the dispatcher) and jax.
        return cf.ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                      initializer=init_process, initargs=(self.scratch,))

    def submit(self, job: dict, signature: str) -> cf.Future:
        return _translate(self.pool.submit(play_in_process, job))

    def recover(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.pool = self._new_pool()

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)


def _translate(future: cf.Future) -> cf.Future:
    """A future whose BrokenProcessPool becomes WorkerDied."""
    out: cf.Future = cf.Future()

    def done(f: cf.Future) -> None:
        if f.cancelled():
            out.cancel()
            out.set_running_or_notify_cancel()
            return
        err = f.exception()
        if isinstance(err, cf.process.BrokenProcessPool):
            out.set_exception(WorkerDied(f"worker process died: {err}"))
        elif err is not None:
            out.set_exception(err)
        else:
            out.set_result(f.result())

    future.add_done_callback(done)
    return out


def make_executor(config) -> Executor:
    if config.backend == "ray":
        from arena.server.ray_backend import RayExecutor

        return RayExecutor(config.workers, config.ray_address)
    return LocalExecutor(config.workers, str(config.data / "scratch"))
