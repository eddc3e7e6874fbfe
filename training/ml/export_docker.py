"""DockerFile export: a Dockerfile and a small app serving Azure's exported-container contract
(``POST /image``, ``POST /url``; see docker/server.py) around the ONNX export's model.onnx and predict.py.

The parity report runs the app the way the container would, as a plain process (no Docker daemon needed):
server.py is started on a free port and every validation image is POSTed to ``/image``; its answers are
compared with the Predictor's.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from training.ml import artifacts
from training.ml.export import PARITY_TOLERANCE, export_onnx

logger = logging.getLogger(__name__)

SERVER = Path(__file__).resolve().parent / "docker" / "server.py"
# Azure's flavors: the same app, built for x86-64 (Linux) or 64-bit ARM (Raspberry Pi 4/5, Jetson, Graviton).
PLATFORMS = {"Linux": "linux/amd64", "ARM": "linux/arm64"}

_DOCKERFILE = """# Tagsight export ({flavor}): Azure Custom Vision's exported-container contract.
#   docker build -t tagsight-model .
#   docker run -p 127.0.0.1:80:80 -d tagsight-model
#   curl -X POST http://127.0.0.1/image -H "Content-Type: application/octet-stream" --data-binary @image.jpg
FROM --platform={platform} python:3.11-slim
RUN pip install --no-cache-dir onnxruntime==1.32.0 pillow==13.0.0 numpy==2.4.6
COPY app /app
WORKDIR /app
EXPOSE 80
CMD ["python", "server.py", "--host", "0.0.0.0", "--port", "80"]
"""


def export_docker(
    artifact_path: str | Path,
    out_dir: str | Path,
    *,
    flavor: str = "Linux",
    validation_images: Sequence[str | Path] = (),
    ids: dict[str, str] | None = None,
    max_detections: int | None = None,
) -> dict[str, Any]:
    """Write Dockerfile and app/ (server.py, predict.py, model.onnx, labels.txt, metadata.json) and parity.json.

    Args:
        flavor: Azure's DockerFile flavor, ``Linux`` or ``ARM`` (the base image's architecture).
        ids: {"project_id", "iteration_id"} the app puts in its answers.
        max_detections: a detector's most boxes, as in ``export_onnx``.
    """
    src = artifacts.artifact_dir(artifact_path)
    out = Path(out_dir)
    app = out / "app"
    out.mkdir(parents=True, exist_ok=True)
    export_onnx(src, app, validation_images=validation_images[:1], max_detections=max_detections)
    (app / "parity.json").unlink()
    meta = json.loads((app / "metadata.json").read_text())
    meta.update(ids or {})
    (app / "metadata.json").write_text(json.dumps(meta, indent=1))
    shutil.copyfile(SERVER, app / "server.py")
    (out / "Dockerfile").write_text(
        _DOCKERFILE.format(flavor=flavor, platform=PLATFORMS[flavor])
    )
    images = list(validation_images) or list(artifacts.read_metadata(src).get("validation_images", ()))
    with serve(app) as url:
        answers = [post_image(url, Path(p).read_bytes()) for p in images]
    report = predictions_parity(src, images, [a["predictions"] for a in answers],
                                (meta.get("postprocessing_in_graph") or {}).get("max_detections"))
    report["served_by"] = "app/server.py run as a plain process, each image POSTed to /image"
    (out / "parity.json").write_text(json.dumps(report, indent=1))
    logger.info("exported %s as a %s container in %s (parity max |dp| %.2e)", src, flavor, out, report["max_abs_diff"])
    return report


class serve:  # noqa: N801 - used as a context manager, like open()
    """``with serve(app_dir) as url:`` the app's server.py in its own process on a free local port."""

    def __init__(self, app: Path, *, python: str = sys.executable) -> None:
        self.command = [python, "-I", "-B", str(app / "server.py"), "--host", "127.0.0.1", "--port", "0"]
        self.process: subprocess.Popen[str] | None = None

    def __enter__(self) -> str:
        self.process = subprocess.Popen(self.command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()  # "listening on HOST:PORT" once the model is loaded
        if not line.startswith("listening on "):
            self.process.kill()
            raise RuntimeError(f"the exported app did not start (exit code {self.process.wait()})")
        return f"http://{line.split()[-1]}"

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=30)


def post_image(url: str, data: bytes, *, content_type: str = "application/octet-stream") -> dict[str, Any]:
    request = urllib.request.Request(f"{url}/image", data=data, headers={"Content-Type": content_type})
    with urllib.request.urlopen(request, timeout=120) as response:
        answer: dict[str, Any] = json.loads(response.read())
    return answer


def predictions_parity(src: Path, images: Sequence[str | Path], answers: Sequence[Sequence[dict[str, Any]]],
                       max_detections: int | None = None) -> dict[str, Any]:
    """Azure-shaped answers (tagName, probability, boundingBox; most probable first) against the Predictor's
    predictions of the same images (a detector's cut to ``max_detections``, as the exported graph is): same tags
    in the same order, probabilities and boxes within tolerance."""
    from training.ml.predict import Predictor

    predictor = Predictor.load(src)
    per_image: list[dict[str, Any]] = []
    for path, rows in zip(images, answers, strict=True):
        server = predictor.predict(path, **({"max_detections": max_detections} if max_detections else {}))
        dp = db = 0.0
        same = len(rows) == len(server) and all(a["tagName"] == b.tag for a, b in zip(rows, server, strict=False))
        for a, b in zip(rows, server, strict=False):
            dp = max(dp, abs(float(a["probability"]) - b.probability))
            if b.box is not None and a.get("boundingBox"):
                box = a["boundingBox"]
                db = max(db, *(abs(float(box[k]) - getattr(b.box, k)) for k in ("left", "top", "width", "height")))
        per_image.append({"image": Path(path).name, "max_abs_diff": dp, "max_abs_box_diff": db, "same_tags": same})
    worst = max((p["max_abs_diff"] for p in per_image), default=0.0)
    worst_box = max((p["max_abs_box_diff"] for p in per_image), default=0.0)
    return {
        "images": len(per_image),
        "max_abs_diff": worst,
        "max_abs_box_diff": worst_box,
        "tolerance": PARITY_TOLERANCE,
        "passed": bool(worst <= PARITY_TOLERANCE and worst_box <= PARITY_TOLERANCE
                       and all(p["same_tags"] for p in per_image)),
        "tiled": bool(getattr(predictor, "tiles", None)),  # a detector that tiles: both sides' answers are tiled
        "per_image": per_image,
    }
