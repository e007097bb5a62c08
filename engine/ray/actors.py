"""The Ray shells: each a short class delegating to plain Python.

- `RateLimiterActor`: one per provider, the shared `RateLimiter`, its
  concurrency limit (`RaySlotBackend`) and the structured-output dialect found
  for it (`RayDialectBook`).
- `LLMCallerActor`: a pool shared by all requests and batches; each runs a `Caller`.
  Their providers' circuits are in one `BreakerActor` (engine/ray/breaker_actor.py).
- `RayCallerPool`: the driver-side handle on that pool (splits items over callers).

Actors are named in a namespace and detached, so the Serve replica, every
batch coordinator and driver scripts find the same ones. They take no CPU
reservation: they wait on the network, and a 2-core machine must still fit
Serve, the callers and the coordinators.
"""

from __future__ import annotations

import asyncio
import logging
import math

import ray
from ray.exceptions import ActorUnschedulableError, RayActorError
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from engine.config import ProviderConfig, Settings
from engine.limits import Limits
from engine.outcome import Outcome
from engine.prompt.plan import OperationPlan
from engine.provider.concurrency import ConcurrencyView
from engine.provider.factory import breaker_policy, build_caller
from engine.provider.leases import Grant, LocalLimiterBackend
from engine.provider.slots import LocalSlotBackend, Sample
from engine.target import Target

log = logging.getLogger(__name__)

NAMESPACE = "agentflow"
REPLACE_ATTEMPTS = 3  # sends of one part when its caller is lost
ACTOR_OPTIONS = {"num_cpus": 0, "lifetime": "detached", "namespace": NAMESPACE, "get_if_exists": True}


@ray.remote(max_restarts=-1, max_task_retries=-1, max_concurrency=1000)
class RateLimiterActor:
    """Restarted empty after a crash: its buckets start small and ramp again."""

    def __init__(self, limits: Limits, max_concurrency: int | None = None):
        self._backend = LocalLimiterBackend(limits)
        self._slots = LocalSlotBackend(max_concurrency, self._backend.states_limits)
        self._dialect: str | None = None  # as found by a caller (engine/provider/discovery.py)

    async def lease(self, requests: int, tokens: int, settle: int) -> Grant:
        return await self._backend.lease(requests, tokens, settle)

    async def pause(self, seconds: float) -> None:
        await self._backend.pause(seconds)

    async def learn(self, limits: Limits) -> None:
        await self._backend.learn(limits)

    async def exchange_slots(self, holder: str, wanted: int, samples: list[Sample], holding: int) -> int:
        return await self._slots.exchange(holder, wanted, samples, holding)

    async def concurrency(self) -> ConcurrencyView:
        return await self._slots.concurrency()

    async def dialect(self) -> str | None:
        return self._dialect

    async def learn_dialect(self, dialect: str) -> None:
        self._dialect = dialect


class RayDialectBook:
    """`DialectBook` over the provider's `RateLimiterActor`: found by one caller, known to all."""

    def __init__(self, handle):
        self._handle = handle

    async def recall(self) -> str | None:
        return await self._handle.dialect.remote()

    async def remember(self, dialect: str) -> None:
        await self._handle.learn_dialect.remote(dialect)


class RaySlotBackend:
    """`SlotBackend` over the provider's `RateLimiterActor`: one concurrency limit for the cluster."""

    def __init__(self, handle):
        self._handle = handle

    async def exchange(self, holder: str, wanted: int, samples: list[Sample], holding: int) -> int:
        return await self._handle.exchange_slots.remote(holder, wanted, samples, holding)

    async def concurrency(self) -> ConcurrencyView:
        return await self._handle.concurrency.remote()


class RayLimiterBackend:
    """`LimiterBackend` over a `RateLimiterActor` handle."""

    def __init__(self, handle):
        self._handle = handle

    async def lease(self, requests: int, tokens: int, settle: int) -> Grant:
        return await self._handle.lease.remote(requests, tokens, settle)

    async def pause(self, seconds: float) -> None:
        await self._handle.pause.remote(seconds)

    async def learn(self, limits: Limits) -> None:
        await self._handle.learn.remote(limits)


def limiter_for(pool_name: str, provider: ProviderConfig):
    return RateLimiterActor.options(name=f"{pool_name}-limiter-{provider.name}", **ACTOR_OPTIONS).remote(
        provider.limits, provider.max_concurrency
    )


@ray.remote(max_restarts=-1, max_task_retries=-1, max_concurrency=10_000)
class LLMCallerActor:
    def __init__(self, settings: Settings, pool_name: str):
        from engine.ray.breaker_actor import RayBreakerBackend, breaker_for  # it imports this module's options

        self._caller = build_caller(settings, lambda p: RayLimiterBackend(limiter_for(pool_name, p)),
                                    lambda p: RayDialectBook(limiter_for(pool_name, p)),
                                    RayBreakerBackend(breaker_for(pool_name, breaker_policy(settings))),
                                    lambda p: RaySlotBackend(limiter_for(pool_name, p)))

    async def run(self, plan: OperationPlan, target: Target, items: list[dict]) -> list[Outcome]:
        return await self._caller.run_many(plan, target, items)

    def node_id(self) -> str:
        return ray.get_runtime_context().get_node_id()


def _alive_nodes() -> list[str]:
    return sorted(node["NodeID"] for node in ray.nodes() if node["Alive"])


class RayCallerPool:
    """The shared pool of caller actors, as seen from any process of the cluster.

    Caller i runs on alive node i mod n, pinned there (hard node affinity):
    SPREAD, and soft affinity too, are only best-effort for actors that
    reserve no CPU, and put them all on the head. A pinned caller cannot be
    restarted when its node is lost; the pool then puts a new caller of the
    same name on a live node (any process of the cluster may, the name makes
    them agree) and sends the part again.
    """

    def __init__(self, settings: Settings, pool_name: str = "agentflow", size: int | None = None):
        self.name = pool_name
        self.size = size or settings.callers
        self._settings = settings
        nodes = _alive_nodes()
        self.callers = [self._create(i, nodes) for i in range(self.size)]
        self._next = 0

    async def run(self, plan: OperationPlan, target: Target, items: list[dict]) -> list[Outcome]:
        """Split `items` over the callers; outcomes come back in item order."""
        chunk = max(1, math.ceil(len(items) / self.size))
        parts = [items[i : i + chunk] for i in range(0, len(items), chunk)]
        parts = await asyncio.gather(*(self._run_part(plan, target, part) for part in parts))
        return [outcome for part in parts for outcome in part]

    async def _run_part(self, plan: OperationPlan, target: Target, part: list[dict]) -> list[Outcome]:
        for attempt in range(REPLACE_ATTEMPTS):
            slot = self._next % self.size
            self._next += 1
            caller = self.callers[slot]
            ref = caller.run.remote(plan, target, part)
            try:
                return await ref
            except asyncio.CancelledError:
                ray.cancel(ref)  # a cancelled batch stops its calls in flight
                raise
            except (RayActorError, ActorUnschedulableError):  # dead, or pinned to a lost node
                if attempt == REPLACE_ATTEMPTS - 1:
                    raise
                await asyncio.to_thread(self._replace, slot, caller)

    async def concurrency(self, provider: ProviderConfig) -> ConcurrencyView:
        """The provider's concurrency limit, one for the cluster (in its limiter actor)."""
        return await limiter_for(self.name, provider).concurrency.remote()

    def _create(self, slot: int, nodes: list[str]):
        # get_if_exists: the caller another process made under this name, or a new one.
        placement = NodeAffinitySchedulingStrategy(nodes[slot % len(nodes)], soft=False) if nodes else "SPREAD"
        return LLMCallerActor.options(name=f"{self.name}-caller-{slot}", scheduling_strategy=placement,
                                      **ACTOR_OPTIONS).remote(self._settings, self.name)

    def _replace(self, slot: int, dead) -> None:
        """A new caller for `slot` on a live node, unless this process replaced it already."""
        if self.callers[slot] is not dead:
            return
        log.warning("caller %s-caller-%d is gone (its node was lost?): starting it again", self.name, slot)
        ray.kill(dead, no_restart=True)  # dead for good, so its name is free
        self.callers[slot] = self._create(slot, _alive_nodes())

    def kill(self) -> None:
        """Remove the pool's actors (tests; a redeploy with new settings)."""
        for caller in self.callers:
            ray.kill(caller, no_restart=True)


@ray.remote(max_restarts=-1, max_task_retries=-1, max_concurrency=100)
class BatchCoordinatorActor:
    """One per run of a batch, named after it (engine.batch.service.run_name).

    Restarted after a crash, it resumes from the store.
    """

    def __init__(self, batch_id: str, settings: Settings, pool_name: str):
        from engine.batch.coordinator import Coordinator
        from engine.store.batch_store import BatchStore

        pool = RayCallerPool(settings, pool_name)
        self._coordinator = Coordinator(batch_id, BatchStore(settings.store), pool, settings)
        self._task: asyncio.Task | None = None
        context = ray.get_runtime_context()
        if context.was_current_actor_reconstructed:
            # Restarted after a crash (its node died, or it was killed): nobody else will call start.
            context.current_actor.start.remote()

    async def start(self) -> None:
        """Idempotent: a second start (a relaunch, a resume) joins the running one."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        await self._coordinator.run()
        # Done: free the name. no_restart, so this intended exit is not taken for a crash.
        ray.kill(ray.get_runtime_context().current_actor, no_restart=True)

    async def cancel(self) -> None:
        self._coordinator.cancel()


class RayBatchRunner:
    """`BatchRunner` over coordinator actors."""

    def __init__(self, settings: Settings, pool_name: str = "agentflow"):
        self._settings = settings
        self._pool_name = pool_name
        # Imported here, as in the coordinator: the caller actors load this module and need neither.
        from engine.store.batch_store import BatchStore

        self._store = BatchStore(settings.store)

    def _name(self, batch_id: str) -> str:
        """The actor name of the batch's current run (a retry is a run of its own)."""
        from engine.batch.service import run_name

        return f"{self._pool_name}-batch-{run_name(batch_id, self._store.read_meta(batch_id))}"

    def launch(self, batch_id: str) -> None:
        actor = BatchCoordinatorActor.options(name=self._name(batch_id), **ACTOR_OPTIONS).remote(
            batch_id, self._settings, self._pool_name)
        actor.start.remote()

    def cancel(self, batch_id: str) -> None:
        # The coordinator also sees cancel_requested in the store; this makes it immediate.
        try:
            actor = ray.get_actor(self._name(batch_id), namespace=NAMESPACE)
        except ValueError:
            return
        actor.cancel.remote()


@ray.remote(max_restarts=-1, max_concurrency=1000)
class SimulatorActor:
    """The built-in simulated provider, for a service with no provider key."""

    def __init__(self):
        self._url: str | None = None

    async def start(self, host: str) -> str:
        if self._url is None:
            import uvicorn

            from engine.sim.simulator import SimulatorConfig, create_simulator_app

            config = uvicorn.Config(create_simulator_app(SimulatorConfig(logprobs=True)), host=host, port=0,
                                    log_level="warning", access_log=False)
            server = uvicorn.Server(config)
            self._task = asyncio.get_running_loop().create_task(server.serve())
            while not server.started:
                await asyncio.sleep(0.05)
            port = server.servers[0].sockets[0].getsockname()[1]
            self._url = f"http://{host}:{port}/v1"
        return self._url


def ensure_simulator(settings: Settings) -> str:
    """Start the cluster's simulator once; return its base URL."""
    handle = SimulatorActor.options(name="agentflow-simulator", **ACTOR_OPTIONS).remote()
    return ray.get(handle.start.remote("127.0.0.1"))
