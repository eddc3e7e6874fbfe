"""gunicorn settings of Tagsight's web tier: scripts/serve.py passes this file; gunicorn also reads it by itself
when started in this folder (its default ``--config`` is ./gunicorn.conf.py).

Every refusal of the Azure-compatible API is JSON ``{"code", "message"}`` that the SDKs can read. gunicorn's
own refusals are HTML pages (414 for a request line over 4094 bytes by default), so the request line is left
to Django: a URL carrying one over-long tag or project name reaches the API, which refuses the name with
Azure's code. gunicorn accepts at most 8190 here unless the limit is switched off (0), and one 10,000-character
name in a query string is already past that. With 0 its C parser still stops at 1 MB; put a reverse proxy with
its own limits in front of a server exposed to the internet (README: HTTPS).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

# One OpenMP thread per request thread: requests already run side by side in gunicorn's threads. Predictions run in
# onnxruntime (its threads are TAGSIGHT_PREDICTION_THREADS); torch loads in a web worker only to trace the decoding
# graph of a detector trained before artifacts carried decode.onnx, once. When torch decoded every detection here,
# its default team (one thread per core) made concurrent requests fight on a 2-core machine: decode + NMS took
# 80-170 ms instead of 2-8 ms (benchmarks/predict_api.py --detect --stages).
os.environ.setdefault("OMP_NUM_THREADS", "1")

limit_request_line = 0  # unlimited: let Django (and the API's Azure errors) see long URLs
limit_request_field_size = 8190  # one header line: keys, cookies and content types fit; gunicorn's default

# Metrics (portal/metrics.py): gunicorn's worker processes write their counters to one folder, which /metrics
# adds up. It must be named before any worker imports prometheus_client (it picks its mode at import), and it
# starts empty with each gunicorn (stale files would count twice); a worker that exits gives up its live gauges.
_DATA_DIR = Path(os.environ.get("TAGSIGHT_DATA_DIR", str(Path(__file__).resolve().parent / "data"))).resolve()
_METRICS_DIR = Path(os.environ.get("TAGSIGHT_METRICS_DIR") or str(_DATA_DIR / "metrics"))
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(_METRICS_DIR / "web"))


def on_starting(server: Any) -> None:
    path = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink(missing_ok=True)


def child_exit(server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
