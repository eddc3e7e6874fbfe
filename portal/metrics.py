"""Prometheus metrics: request and prediction timings (web), training and export builds (worker), and gauges read
from the database at scrape time (training queue, worker heartbeats), served at /metrics behind a bearer token.

Processes that serve requests or run tasks count into prometheus-client's metric objects. Under gunicorn
(``PROMETHEUS_MULTIPROC_DIR``, set by gunicorn.conf.py) and in a Celery worker (``portal.celery`` points it at
``TAGSIGHT_METRICS_DIR/worker``) they write them to files that /metrics adds up, so every process is counted.
What is true of the whole deployment (the queue, the workers' heartbeats) is read from the database when
scraped, so it is right however many machines there are.
"""

from __future__ import annotations

import hmac
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from portal.azure.operations import Route

logger = logging.getLogger(__name__)

_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
_FAST = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_SLOW = (5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0, 7200.0, 14400.0)

# Every metric has labels, so a process writes nothing until it observes something: the web never writes the
# worker's series and the other way round, and /metrics never meets one series twice.
REQUEST_SECONDS = Histogram(
    "tagsight_http_request_duration_seconds",
    "Time to answer a request, by route (URL name or Azure operation id), method and status; _count counts them.",
    ["route", "method", "status"],
    buckets=_FAST,
)
PREDICTIONS = Histogram(
    "tagsight_prediction_duration_seconds",
    "Time to answer a successful Prediction API call, by project and operation; _count counts predictions.",
    ["project", "operation"],
    buckets=_FAST,
)
TRAINING_SECONDS = Histogram(
    "tagsight_training_duration_seconds",
    "Wall time of a training on a worker (started to finished), by final status.",
    ["status"],
    buckets=_SLOW,
)
EXPORT_SECONDS = Histogram(
    "tagsight_export_build_duration_seconds",
    "Time from queueing an export to its build finishing, by platform and final status; _count counts builds.",
    ["platform", "status"],
    buckets=_SLOW,
)


# ---------------------------------------------------------------- the web side


def route_name(request: HttpRequest) -> str:
    """A bounded name for what was asked: ``prediction:ClassifyImage``, ``projects:project-list``, never ids."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        return "unmatched"
    func = match.func
    if isinstance(func, Route):
        name = next((o.operation_id for o in func.operations if o.method == request.method), "MethodNotAllowed")
        return f"{func.api}:{name}"
    return match.view_name or f"{getattr(func, '__module__', '')}.{getattr(func, '__name__', type(func).__name__)}"


class MetricsMiddleware:
    """Times every request by route and status; a successful Prediction API call also counts for its project."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        seconds = time.perf_counter() - started
        route = route_name(request)
        method = request.method if request.method in _METHODS else "other"
        REQUEST_SECONDS.labels(route, method, str(response.status_code)).observe(seconds)
        if route.startswith("prediction:") and 200 <= response.status_code < 300 and request.resolver_match:
            project = str(request.resolver_match.kwargs.get("project_id", "")).lower()
            PREDICTIONS.labels(project, route.partition(":")[2]).observe(seconds)
        return response


def metrics(request: HttpRequest) -> HttpResponse:
    """/metrics: 404 unless TAGSIGHT_METRICS_TOKEN is set, 401 without ``Authorization: Bearer <token>``."""
    token = settings.TAGSIGHT_METRICS_TOKEN
    if not token:
        raise Http404("Metrics are off.")
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
        response = HttpResponse("A bearer token is required.\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(generate_latest(metrics_registry()), content_type=CONTENT_TYPE_LATEST)


def metrics_registry() -> CollectorRegistry:
    """Everything /metrics shows: this process (or all of gunicorn's), this machine's worker, the database."""
    web_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
    sources: list[Any] = [_multiprocess(Path(web_dir)) if web_dir else REGISTRY]
    worker_dir = Path(settings.TAGSIGHT_METRICS_DIR) / "worker"
    if worker_dir.is_dir() and (not web_dir or worker_dir.resolve() != Path(web_dir).resolve()):
        sources.append(_multiprocess(worker_dir))
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Merged(sources))
    registry.register(DatabaseCollector())
    return registry


def _multiprocess(path: Path) -> CollectorRegistry:
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(path))  # type: ignore[no-untyped-call]
    return registry


class _Merged:
    """Families of the same name from several sources become one (same samples added up): a scrape never shows
    a metric twice, whichever processes wrote it."""

    def __init__(self, sources: Iterable[Any]) -> None:
        self.sources = list(sources)

    def collect(self) -> Iterator[Metric]:
        families: dict[str, Metric] = {}
        values: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], Any]] = {}
        for source in self.sources:
            for family in source.collect():
                if not family.samples:
                    continue
                merged = families.setdefault(family.name, Metric(family.name, family.documentation, family.type))
                by_key = values.setdefault(family.name, {})
                for sample in family.samples:
                    key = (sample.name, tuple(sorted(sample.labels.items())))
                    old = by_key.get(key)
                    by_key[key] = sample if old is None else old._replace(value=old.value + sample.value)
                merged.samples = list(by_key.values())
        yield from families.values()


class DatabaseCollector:
    """Gauges read from the database at scrape time: right across machines, whichever process is scraped."""

    def collect(self) -> Iterator[Metric]:
        from django.db.models import Count, Q
        from django.utils import timezone

        from predictions.models import Export
        from training.models import Iteration, WorkerHeartbeat

        try:
            counts = Iteration.objects.filter(status=Iteration.Status.TRAINING).aggregate(
                queued=Count("id", filter=Q(started__isnull=True)), running=Count("id", filter=Q(started__isnull=False))
            )
            beats = list(WorkerHeartbeat.objects.values_list("hostname", "last_seen"))
            exporting = Export.objects.filter(status=Export.Status.EXPORTING).count()
        except Exception:  # noqa: BLE001 - a scrape reports what it can; /healthz is the place for the database
            logger.warning("metrics: the database could not be read", exc_info=True)
            return
        queue = GaugeMetricFamily(
            "tagsight_training_queue_depth", "Trainings waiting for a worker (queued) or training (running).",
            labels=["state"],
        )
        for state in ("queued", "running"):
            queue.add_metric([state], counts[state] or 0)
        yield queue
        now = timezone.now()
        age = GaugeMetricFamily(
            "tagsight_worker_heartbeat_age_seconds", "Seconds since each worker's newest heartbeat.", labels=["worker"]
        )
        for hostname, last_seen in beats:
            age.add_metric([hostname], max(0.0, (now - last_seen).total_seconds()))
        yield age
        yield GaugeMetricFamily("tagsight_exports_in_progress", "Exports queued or being built.", value=exporting)


# ---------------------------------------------------------------- the worker side (wired in portal.celery)


def worker_process_gone(**_: Any) -> None:
    """worker_process_shutdown: a pool process that ends gives up its live gauges."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


def task_observe(task: Any = None, args: Any = None, **_: Any) -> None:
    """task_postrun: a finished training or export build adds its duration (read from its row) by status."""
    name = getattr(task, "name", "")
    if name not in ("training.tasks.train_iteration", "predictions.tasks.export_iteration") or not args:
        return
    try:
        if name == "training.tasks.train_iteration":
            from training.models import Iteration

            it = Iteration.objects.filter(id=args[0]).values("status", "started", "finished").first()
            if it and it["started"] and it["finished"]:
                TRAINING_SECONDS.labels(it["status"]).observe((it["finished"] - it["started"]).total_seconds())
        else:
            from predictions.models import Export

            ex = Export.objects.filter(id=args[0]).values("platform", "status", "created", "finished").first()
            if ex and ex["finished"]:
                seconds = max(0.0, (ex["finished"] - ex["created"]).total_seconds())
                EXPORT_SECONDS.labels(ex["platform"], ex["status"]).observe(seconds)
    except Exception:  # noqa: BLE001 - metrics never fail a task
        logger.warning("metrics: could not observe %s %s", name, args, exc_info=True)
