"""Where the engine's compute runs: onnxruntime sessions, torch's thread count, torch -> ONNX export.

torch is imported by the helpers that use it, not by this module: the web tier opens a classifier's session
(``make_session``, ``predict.Predictor``) without loading torch (560 MiB and 2 s a web worker).

Every onnxruntime session in the engine (embeddings, the classification and detection Predictors,
the detection trunk during training, export parity checks) is opened by :func:`make_session`, so
the CPU settings that matter on a shared 2-core worker live in one place.
"""

from __future__ import annotations

import copy
import io
import os
import threading
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import onnxruntime as ort

if TYPE_CHECKING:
    import torch
    from torch import Tensor

EXPORT_OPSET = 18  # Resize(antialias=1) needs opset 18

_In = TypeVar("_In")
_Out = TypeVar("_Out")


def session_options(threads: int | None = None, *, memory_arena: bool = True) -> ort.SessionOptions:
    """onnxruntime options: full graph optimisation, ``threads`` intra-op threads, no spinning.

    Args:
        threads: intra-op threads; None or 0 = onnxruntime's default count, one per physical core
            (:func:`physical_cores`), without its pinning.
        memory_arena: keep onnxruntime's CPU arena. Turn it off for graphs fed images of every
            size (the detection trunk and Predictor): an arena sized for each new shape only grows.
    """
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # The default count, set explicitly: left at 0, onnxruntime pins each of its worker threads to one core while
    # the thread that calls run() floats, and when the kernel puts the caller on a worker's core the two share it
    # and the run goes serial. Measured on the Predictor after a stored prediction's file and row writes: 7.3 ms
    # -> 9.1-10.7 ms a run in some processes; set explicitly, no thread is pinned and runs took 7.2-7.3 ms in all.
    opts.intra_op_num_threads = int(threads or physical_cores())
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    opts.enable_cpu_mem_arena = memory_arena
    # No busy-waiting between ops: the worker shares its cores with the web app and other jobs;
    # measured under load, spinning threads made inference ~1.7x slower.
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return opts


def make_session(
    model: str | Path | bytes, threads: int | None = None, *, memory_arena: bool = True
) -> ort.InferenceSession:
    """A CPU inference session (``run`` is thread-safe).

    Args:
        model: an ONNX file, or a serialised model.
        threads: intra-op threads (None = onnxruntime's default).
        memory_arena: see :func:`session_options`.
    """
    src = str(model) if isinstance(model, Path) else model
    return ort.InferenceSession(
        src, sess_options=session_options(threads, memory_arena=memory_arena), providers=["CPUExecutionProvider"]
    )


class LoadAwareSession:
    """A model's onnxruntime session for a server's concurrent requests: onnxruntime's default threads (one per
    core) for a run that starts while no other run of a LoadAwareSession is in flight in this process, one thread for
    a run that overlaps another. A lone request is answered fastest on every core; under load, each request on one
    thread wastes none of the CPU that splitting every convolution across threads costs (General's model: 14.8 ms
    of CPU a run on 2 threads, 12.4 ms on one) and runs its whole model on one core.

    The one-thread session is opened on the first overlap, so a model that never meets one costs no more memory
    (about 40 MiB for General's). ``run`` is thread-safe, as a session's.
    """

    _in_flight = 0  # runs in flight in this process, of every model
    _count = threading.Lock()

    def __init__(self, model: str | Path | bytes, *, memory_arena: bool = True) -> None:
        self._model, self._memory_arena = model, memory_arena
        self._every_core = make_session(model, None, memory_arena=memory_arena)
        self._one_core: ort.InferenceSession | None = None
        self._opening = threading.Lock()

    def _one_thread(self) -> ort.InferenceSession:
        session = self._one_core
        if session is None:
            with self._opening:
                if self._one_core is None:
                    self._one_core = make_session(self._model, 1, memory_arena=self._memory_arena)
                session = self._one_core
        return session

    def run(self, outputs: list[str] | None, feeds: dict[str, Any]) -> list[Any]:
        with LoadAwareSession._count:
            LoadAwareSession._in_flight += 1
            alone = LoadAwareSession._in_flight == 1
        try:
            session = self._every_core if alone else self._one_thread()
            answer: list[Any] = session.run(outputs, feeds)
            return answer
        finally:
            with LoadAwareSession._count:
                LoadAwareSession._in_flight -= 1


def prediction_session(
    model: str | Path | bytes, threads: int | None = None, *, memory_arena: bool = True
) -> ort.InferenceSession | LoadAwareSession:
    """The session a Predictor runs its model in: ``threads`` intra-op threads where given, else (None or 0) a
    :class:`LoadAwareSession` on a machine with more than one core."""
    if threads or cores() == 1:
        return make_session(model, threads, memory_arena=memory_arena)
    return LoadAwareSession(model, memory_arena=memory_arena)


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run a block with ``n`` torch threads. On a busy 2-core machine torch's second thread makes
    small ops ~100x slower (torch.full of 1 MB: 0.2 ms -> 20 ms) and head training steps ~10x slower
    (1.2 s -> 15 s), so training defaults to one thread unless ``TrainConfig.threads`` says more."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(max(1, n))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def cores() -> int:
    """CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def physical_cores() -> int:
    """Physical cores among the CPUs this process may run on (hyper-threads of one core count once): onnxruntime's
    default intra-op thread count. Where the topology cannot be read, :func:`cores`."""
    if not hasattr(os, "sched_getaffinity"):
        return cores()
    seen = set()
    for cpu in os.sched_getaffinity(0):
        topology = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology")
        try:
            seen.add(((topology / "physical_package_id").read_text(), (topology / "core_id").read_text()))
        except OSError:
            return cores()
    return max(1, len(seen))


def native_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 matrices natively, in AMX tiles (Sapphire Rapids and later), where a bf16
    convolution is faster than a float32 one. AVX-512 BF16 alone is not enough: with oneDNN held to it
    (ONEDNN_MAX_CPU_ISA=AVX512_CORE_BF16) a detection head step took 67 ms in bf16 against 48 ms in float32."""
    import torch

    try:
        return bool(torch.cpu._is_avx512_bf16_supported() and torch.cpu._is_amx_tile_supported())
    except AttributeError:  # another torch build
        return False


def map_in_order(fn: Callable[[_In], _Out], items: Iterable[_In], workers: int) -> Iterator[_Out]:
    """``fn`` of each item on ``workers`` threads, each with one torch thread; results in the items' order.

    The items are drawn on the calling thread (so whatever they draw from a seeded generator is drawn in order)
    at most two per worker ahead of the results, so memory stays bounded. Give ``fn`` sessions of one intra-op
    thread: one run per core side by side scales better than one run on every core (the detection trunk: 6.7 ms
    against 8.5 ms a view on 2 cores), and each result is computed the same way on any machine.
    """
    import torch

    with ThreadPoolExecutor(max(1, workers), initializer=torch.set_num_threads, initargs=(1,)) as pool:
        pending: deque[Future[_Out]] = deque()
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) > 2 * max(1, workers):
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


class ShardedSteps:
    """Each training batch's forward and backward in ``shards`` shards side by side, one thread each.

    ``model`` runs shard 0 on the calling thread; every other shard runs on a pool thread with its own copy of the
    model (autograd adds a parameter's gradients in whatever order its uses finish, so a copy keeps each shard's
    sums on one thread). :meth:`backward` leaves the whole batch's gradient on ``model``: the copies' gradients
    added in shard order. Every sum is made the same way on any machine and under any load, so training stays
    deterministic, and nothing spins: on a busy core a shard waits for the other, where torch's own thread team
    made steps 2.4x slower (README "Detection quick training"). Use as a context manager; call :meth:`sync` after
    each optimiser step. The loss of a shard must be normalised by the whole batch (so that the shards add up).
    """

    def __init__(self, model: torch.nn.Module, shards: int, threads: int = 1) -> None:
        import torch

        self.model = model
        self.copies = [copy.deepcopy(model) for _ in range(max(1, shards) - 1)]
        self.params = list(model.parameters())
        self.pool = ThreadPoolExecutor(max(1, len(self.copies)), initializer=torch.set_num_threads, initargs=(threads,))

    def __enter__(self) -> ShardedSteps:
        return self

    def __exit__(self, *exc: object) -> None:
        self.pool.shutdown()

    def backward(self, idx: Tensor, loss: Callable[[torch.nn.Module, Tensor], Tensor]) -> float:
        """Zero the gradients, then ``loss(model or a copy, shard of idx)`` and its backward for every shard;
        returns the summed loss."""

        def run(model: torch.nn.Module, part: Tensor) -> float:
            value = loss(model, part)
            model.zero_grad(set_to_none=True)
            value.backward()  # type: ignore[no-untyped-call]
            return float(value.detach())

        for other in self.copies:  # the same train / eval modes, module by module (e.g. frozen BatchNorm)
            for mine, theirs in zip(self.model.modules(), other.modules(), strict=True):
                theirs.training = mine.training
        parts = [part for part in idx.tensor_split(len(self.copies) + 1) if len(part)]
        futures = [self.pool.submit(run, self.copies[i], part) for i, part in enumerate(parts[1:])]
        total = run(self.model, parts[0]) + sum(f.result() for f in futures)
        for other in self.copies[: len(futures)]:
            for p, q in zip(self.params, other.parameters(), strict=True):
                if q.grad is not None:
                    p.grad = q.grad.clone() if p.grad is None else p.grad.add_(q.grad)
        return total

    def sync(self) -> None:
        """The copies take the model's weights (after an optimiser step)."""
        import torch

        with torch.no_grad():
            for other in self.copies:
                for p, q in zip(self.params, other.parameters(), strict=True):
                    q.copy_(p)


def _resize_aa_symbolic(g: Any, x: Any, output_size: Any, align_corners: Any, scale_factors: Any) -> Any:
    """ONNX symbolic for torch's antialiased bilinear resize (the classic exporter has none)."""
    import torch
    from torch.onnx import symbolic_helper

    size = symbolic_helper._get_const(output_size, "is", "output_size")  # type: ignore[no-untyped-call]
    empty = g.op("Constant", value_t=torch.tensor([], dtype=torch.float32))
    batch_channels = g.op(
        "Slice",
        g.op("Shape", x),
        g.op("Constant", value_t=torch.tensor([0])),
        g.op("Constant", value_t=torch.tensor([2])),
    )
    sizes = g.op("Concat", batch_channels, g.op("Constant", value_t=torch.tensor(size, dtype=torch.int64)), axis_i=0)
    return g.op(
        "Resize",
        x,
        empty,
        empty,
        sizes,
        mode_s="linear",
        antialias_i=1,
        coordinate_transformation_mode_s="half_pixel",
    )


def export_torch(
    module: torch.nn.Module, args: Any, path: Path | io.BytesIO, *, opset: int = EXPORT_OPSET, **kwargs: Any
) -> None:
    """Classic (TorchScript) ONNX export at ``opset`` (EXPORT_OPSET, or an older one: see training.ml.opset), with
    antialiased resize, warnings silenced, to a file or a buffer.

    ``kwargs`` go to ``torch.onnx.export`` (input_names, output_names, dynamic_axes, ...).
    """
    import torch
    from torch.onnx import register_custom_op_symbolic  # type: ignore[attr-defined]

    register_custom_op_symbolic("aten::_upsample_bilinear2d_aa", _resize_aa_symbolic, EXPORT_OPSET)
    if opset < EXPORT_OPSET:
        from training.ml.opset import register_legacy_symbolics

        register_legacy_symbolics(opset)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        target = path if isinstance(path, io.BytesIO) else str(path)
        torch.onnx.export(module, args, target, opset_version=opset, dynamo=False, **kwargs)  # type: ignore[arg-type]
