"""`arena serve --backend ray`: jobs on a pool of Ray actors, each one `Worker` kept warm
(its prepared tournaments, its compiled functions) across jobs.

Routing is by architecture signature: a signature goes to the actor it went to before
(its home), and a new one to the least-loaded actor. When every home of a signature is busy
and another actor sits idle, the idle one becomes a second home (spill), so a tournament of
one architecture still uses the whole pool; the same signature never compiles on an actor
that had work to do.

A dead actor (killed, out of memory, its node gone) fails its jobs with `WorkerDied`, which
the dispatcher retries as an infra failure; the actor is replaced in place on the next
`recover()` or `submit()`, so its signatures route to the replacement.

Ray is an optional extra: this module is imported only for `--backend ray`.
"""
from __future__ import annotations

import concurrent.futures as cf
import contextlib
import dataclasses
import logging
import os
import socket
import tempfile
import threading

from arena.errors import UserError
from arena.server.executor import WorkerDied
from arena.server.worker import init_process, play_in_process

try:
    import ray
    import ray.exceptions as rex
except ImportError:  # pragma: no cover  (the extra is installed in the dev venv)
    raise UserError("--backend ray needs Ray: pip install 'arena[ray]'") from None

log = logging.getLogger("arena.server")

# Errors that mean the actor (or its process, or its node) is gone, not that the job failed.
DIED = (rex.RayActorError, rex.WorkerCrashedError, rex.LocalRayletDiedError, rex.NodeDiedError,
        rex.OutOfMemoryError, rex.ObjectLostError)


@ray.remote(max_restarts=0)
class WorkerActor:
    """One `Worker` in one Ray worker process: the process pool's initializer and task,
    as an actor."""

    def __init__(self):
        # Agents are cached by content, so the actors of one node can share a scratch dir
        # (and a replacement actor finds its predecessor's files).
        init_process(os.path.join(tempfile.gettempdir(), "arena-ray-worker"))

    def pid(self) -> int:
        return os.getpid()

    def play(self, job: dict) -> dict:
        return play_in_process(job)


@dataclasses.dataclass
class _Slot:
    actor: object  # a WorkerActor handle
    load: int = 0  # jobs submitted and not finished
    dead: bool = False


class RayExecutor:
    recover_keeps_inflight = True  # recover() replaces only the dead actors

    def __init__(self, workers: int = 1, address: str | None = None, *, num_cpus: float = 1,
                 ready_timeout: float = 300.0, spill: bool = True):
        self.workers = workers
        self.num_cpus = num_cpus
        self.spill = spill
        self.started_ray = False
        if not ray.is_initialized():
            # No address: $RAY_ADDRESS, else a new local Ray (never some `ray start` cluster
            # found by chance), sized so that --workers means what it means for the local
            # backend. Joining a cluster, Ray refuses a num_cpus: the cluster has its own.
            address = address or os.environ.get("RAY_ADDRESS") or None
            where = {"address": address} if address else {"address": "local", "num_cpus": max(os.cpu_count() or 1, workers * num_cpus)}
            if address:
                _check_reachable(address)
            try:
                ray.init(**where)
            except (ConnectionError, ValueError, RuntimeError) as err:
                raise UserError(f"cannot join Ray at {address or 'the local machine'}: {err}") from None
            self.started_ray = True  # so close() shuts it down (or leaves the cluster)
        self._lock = threading.Lock()
        self.slots = [_Slot(self._new_actor()) for _ in range(workers)]
        self.routes: dict[str, list[int]] = {}  # signature -> the slots it has run on, home first
        self._wait_ready(ready_timeout)

    # ------------------------------------------------------------ the interface

    def submit(self, job: dict, signature: str) -> cf.Future:
        self._replace_dead()
        with self._lock:
            index = self._route(signature)
            slot = self.slots[index]
            slot.load += 1
            actor = slot.actor
        out: cf.Future = cf.Future()
        out.slot = index  # which actor took it (for tests and logs)
        try:
            ref = actor.play.remote(job)
        except Exception as err:  # noqa: BLE001  (a dead handle can refuse the call itself)
            self._finished(index, actor, err, out)
            return out
        ref.future().add_done_callback(lambda f: self._finished(index, actor, _exception(f), out, f))
        return out

    def recover(self) -> None:
        """Replace the actors that died; the others keep their jobs and their warm caches."""
        self._replace_dead()

    def close(self) -> None:
        for slot in self.slots:
            _kill(slot.actor)
        self.slots = []
        if self.started_ray:
            ray.shutdown()

    # ------------------------------------------------------------ internals

    def pid(self, index: int) -> int:
        """The process id of the actor in slot `index`."""
        return ray.get(self.slots[index].actor.pid.remote())

    def _new_actor(self):
        return WorkerActor.options(num_cpus=self.num_cpus).remote()

    def _wait_ready(self, timeout: float) -> None:
        """Block until every actor is up (jax imported), so a cluster that cannot place them
        or a node without arena fails at start-up, not on the first job."""
        try:
            ray.get([s.actor.pid.remote() for s in self.slots], timeout=timeout)
        except rex.GetTimeoutError:
            cpus = ray.cluster_resources().get("CPU", 0)
            self.close()
            raise UserError(f"Ray did not start {self.workers} actor(s) in {timeout:.0f} s; each takes {self.num_cpus} CPU "
                            f"and the cluster has {cpus:g}: give fewer --workers") from None
        except rex.RayError as err:
            self.close()
            raise UserError(f"a Ray actor failed to start (is arena installed on every node?): {err}") from None

    def _route(self, signature: str) -> int:
        """Under the lock: the slot for a job of `signature`."""
        homes = self.routes.get(signature)
        if homes:
            best = min(homes, key=lambda i: self.slots[i].load)
            if self.slots[best].load == 0 or not self.spill:
                return best
            idle = [i for i, s in enumerate(self.slots) if s.load == 0 and i not in homes]
            if not idle:
                return best
            index = min(idle, key=lambda i: (self._homes_of(i), i))
            homes.append(index)
            return index
        index = min(range(len(self.slots)), key=lambda i: (self.slots[i].load, self._homes_of(i), i))
        self.routes[signature] = [index]
        return index

    def _homes_of(self, index: int) -> int:
        return sum(homes[0] == index for homes in self.routes.values())

    def _finished(self, index: int, actor, err: BaseException | None, out: cf.Future, ray_future: cf.Future | None = None) -> None:
        """Ray's callback thread: book the job off its actor and settle `out`."""
        with self._lock:
            slot = self.slots[index] if index < len(self.slots) else None
            current = slot is not None and slot.actor is actor  # not replaced since
            if current:
                slot.load -= 1
                if isinstance(err, DIED):
                    slot.dead = True  # before `out` is settled: the dispatcher's recover() sees it
        if isinstance(err, DIED):
            out.set_exception(WorkerDied(f"Ray actor {index} died: {_one_line(err)}"))
        elif isinstance(err, rex.RayTaskError):
            out.set_exception(err.cause)  # what the worker raised, as the local backend gives it
        elif err is not None:
            out.set_exception(err)
        else:
            out.set_result(ray_future.result())

    def _replace_dead(self) -> None:
        with self._lock:
            dead = [(i, s.actor) for i, s in enumerate(self.slots) if s.dead]
        for index, old in dead:
            _kill(old)
            new = self._new_actor()
            with self._lock:
                self.slots[index] = _Slot(new)  # the slot's signatures now route to the new actor
            log.warning("Ray actor %d died; started a new one in its place", index)


def _check_reachable(address: str) -> None:
    """A cluster address nobody listens on fails here, in seconds: ray.init would retry it
    for minutes, deaf to Ctrl-C."""
    host, _, port = address.split("://")[-1].rpartition(":")
    if not host or not port.isdigit():
        return  # "auto" and the like: Ray resolves them
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=5).close()
    except OSError as err:
        raise UserError(f"no Ray cluster at {address} ({err.strerror or err}); is `ray start --head` running there?") from None


def _exception(f: cf.Future) -> BaseException | None:
    if f.cancelled():
        return rex.TaskCancelledError()
    return f.exception()


def _kill(actor) -> None:
    with contextlib.suppress(Exception):  # already dead, or Ray is shutting down
        ray.kill(actor)


def _one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}"[:300]
