"""training.ml.runtime: batches trained in shards side by side, work mapped over threads in order, and the
Predictors' sessions that give a lone request every core and overlapping ones one thread each."""

from __future__ import annotations

import os
import threading
import time

import numpy as np
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from training.ml.runtime import (
    LoadAwareSession,
    ShardedSteps,
    cores,
    make_session,
    map_in_order,
    physical_cores,
    prediction_session,
)


def _model() -> nn.Module:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 36, 4))
    with torch.no_grad():  # statistics a batch would not give: a BatchNorm left in training mode shows
        net[1].running_mean.fill_(0.3)
        net[1].running_var.fill_(2.0)
    net.train()
    net[1].eval()  # frozen BatchNorm, as the fine-tuning tails have
    return net


def test_shards_leave_the_whole_batch_gradient_on_the_model_and_follow_its_modes() -> None:
    x, y = torch.randn(10, 3, 6, 6), torch.randint(0, 4, (10,))
    whole = _model()
    nn.functional.cross_entropy(whole(x), y).backward()  # type: ignore[no-untyped-call]

    model = _model().train()  # copied with its BatchNorm in training mode ...

    def loss(m: nn.Module, part: torch.Tensor) -> torch.Tensor:
        return nn.functional.cross_entropy(m(x[part]), y[part], reduction="sum") / len(y)

    with ShardedSteps(model, 3) as sharded:
        model[1].eval()  # ... and frozen afterwards: the copies follow
        total = sharded.backward(torch.arange(10), loss)
        assert all(not copy[1].training and copy[0].training for copy in sharded.copies)
    with torch.no_grad():
        assert total == pytest.approx(float(nn.functional.cross_entropy(whole(x), y)), rel=1e-5)
    for p, q in zip(model.parameters(), whole.parameters(), strict=True):
        assert torch.allclose(p.grad, q.grad, rtol=1e-4, atol=1e-6)  # type: ignore[arg-type]


def test_copies_take_the_weights_after_a_step_and_a_short_batch_uses_fewer_shards() -> None:
    model = _model()
    x, y = torch.randn(1, 3, 6, 6), torch.tensor([2])
    with ShardedSteps(model, 2) as sharded:
        sharded.backward(torch.arange(1), lambda m, part: nn.functional.cross_entropy(m(x[part]), y[part]))
        assert all(p.grad is None for p in sharded.copies[0].parameters())  # one row: the copy did nothing
        torch.optim.SGD(model.parameters(), lr=0.1).step()
        sharded.sync()
        assert all(torch.equal(p, q) for p, q in zip(model.parameters(), sharded.copies[0].parameters(), strict=True))


def test_map_in_order_keeps_the_order_and_runs_on_other_threads() -> None:
    seen: set[int] = set()

    def work(i: int) -> int:
        seen.add(threading.get_ident())
        return i * i

    assert list(map_in_order(work, range(20), 2)) == [i * i for i in range(20)]
    assert threading.get_ident() not in seen


def _slow_model(side: int = 512, depth: int = 40) -> bytes:
    """x [side, side] -> x @ W @ W ... (``depth`` products with one W): about 0.1-0.3 s a run on one core."""
    w = np.random.default_rng(0).normal(0, 1 / np.sqrt(side), (side, side)).astype(np.float32)
    names = ["x"] + [f"h{i}" for i in range(depth - 1)] + ["y"]
    nodes = [helper.make_node("MatMul", [a, "w"], [b]) for a, b in zip(names, names[1:], strict=False)]
    value = helper.make_tensor_value_info
    graph = helper.make_graph(nodes, "slow", [value("x", TensorProto.FLOAT, [side, side])],
                              [value("y", TensorProto.FLOAT, [side, side])], [numpy_helper.from_array(w, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def test_a_lone_run_uses_the_default_threads_and_an_overlapping_run_one_thread() -> None:
    session = LoadAwareSession(_slow_model())
    x = np.random.default_rng(1).random((512, 512), dtype=np.float32)
    alone = session.run(None, {"x": x})[0]
    session.run(None, {"x": x})
    assert session._one_core is None  # runs one after another: no second session, no memory for one

    first: list[np.ndarray] = []
    worker = threading.Thread(target=lambda: first.append(session.run(None, {"x": x})[0]))
    worker.start()
    while LoadAwareSession._in_flight == 0:  # the worker's run has started (and takes a tenth of a second or more)
        time.sleep(0.0005)
    overlapping = session.run(None, {"x": x})[0]
    worker.join()
    assert session._one_core is not None and session._one_core.get_session_options().intra_op_num_threads == 1
    assert LoadAwareSession._in_flight == 0
    for answer in (first[0], overlapping):
        np.testing.assert_allclose(answer, alone, rtol=1e-4, atol=1e-5)


def test_a_predictor_session_takes_a_given_thread_count_as_it_is() -> None:
    fixed = prediction_session(_slow_model(side=8, depth=2), 2)
    assert isinstance(fixed, ort.InferenceSession) and fixed.get_session_options().intra_op_num_threads == 2
    default = prediction_session(_slow_model(side=8, depth=2))
    assert isinstance(default, LoadAwareSession if cores() > 1 else ort.InferenceSession)


def _allowed_cpus() -> dict[str, str]:
    """Each thread of this process -> the CPUs it may run on (Linux's Cpus_allowed_list)."""
    from pathlib import Path

    allowed = {}
    for task in Path("/proc/self/task").iterdir():
        for line in (task / "status").read_text().splitlines():
            if line.startswith("Cpus_allowed_list:"):
                allowed[task.name] = line.split()[1]
    return allowed


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity") or cores() < 2, reason="thread affinity of a Linux SMP")
def test_a_default_session_runs_on_a_thread_per_core_pinned_to_none() -> None:
    """Left to onnxruntime, the default count pins each worker thread to a core while the caller floats (a run goes
    serial when the two land on one core); the count is set explicitly instead, so no thread is pinned."""
    before = _allowed_cpus()
    session = make_session(_slow_model(side=64, depth=4))
    session.run(None, {"x": np.ones((64, 64), np.float32)})
    assert session.get_session_options().intra_op_num_threads == physical_cores() >= 1
    started = {tid: cpus for tid, cpus in _allowed_cpus().items() if tid not in before}
    assert started or physical_cores() == 1  # its worker threads
    assert set(started.values()) <= {before[str(threading.get_native_id())]}, started
    pinned = ort.SessionOptions()  # what the default count does, as the check that this test can fail
    pinned.intra_op_num_threads = 0
    left = ort.InferenceSession(_slow_model(side=64, depth=4), sess_options=pinned, providers=["CPUExecutionProvider"])
    left.run(None, {"x": np.ones((64, 64), np.float32)})
    fresh = {tid: cpus for tid, cpus in _allowed_cpus().items() if tid not in before and tid not in started}
    assert physical_cores() == 1 or set(fresh.values()) - {before[str(threading.get_native_id())]}, fresh
