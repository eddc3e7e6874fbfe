"""A web worker's first classification prediction: time and memory of loading and running a model in a process that
has imported the web tier, as a gunicorn worker has.

    .venv/bin/python benchmarks/first_prediction.py [--artifact DIR] [--runs 3]

Without --artifact it trains a classifier with General's recipe (EfficientNet-Lite0 at 288 px, GeM pooling) on the
Azure quickstart's Hemlock / Japanese Cherry photos (training.ml.train, in a temporary folder). Each run is a fresh
interpreter: it imports portal.wsgi, then loads the artifact's Predictor and classifies the quickstart's test image
(scaled to 640 px), and prints the time of that first prediction, the process's RSS before and after it, which ML
modules it loaded (torch, onnx, onnxruntime) and the median time of 20 predictions after it.
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import DATASETS, ROOT  # benchmarks/ is on sys.path when run as a script

CHILD = """
import json, os, statistics, sys, time
sys.path.insert(0, {root!r})
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
os.environ.setdefault("OMP_NUM_THREADS", "1")
def rss():
    return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
import portal.wsgi
before = rss()
image = sys.stdin.buffer.read()
t = time.perf_counter()
from training.ml import Predictor
predictor = Predictor.load({artifact!r}, threads=0, int8=True)
answer = predictor.predict(image)
first = time.perf_counter() - t
after = rss()
times = []
for _ in range(20):
    t = time.perf_counter(); predictor.predict(image); times.append(time.perf_counter() - t)
print(json.dumps({{"first_s": first, "rss_before": before, "rss_after": after,
                   "loaded": [m for m in ("torch", "onnx", "onnxruntime") if m in sys.modules],
                   "then_ms": 1000 * statistics.median(times), "answer": [answer[0].tag, answer[0].probability]}}))
"""


def jpeg_640() -> bytes:
    from PIL import Image

    im = Image.open(DATASETS / "azure-quickstart/classification/Test/test_image.jpg").convert("RGB")
    im.thumbnail((640, 640))
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def train_quickstart(work: Path) -> str:
    sys.path.insert(0, str(ROOT))
    from training.ml import Manifest, Sample, TrainConfig, train

    folder = DATASETS / "azure-quickstart" / "classification"
    images = json.loads((folder / "manifest.json").read_text())["images"]
    samples = tuple(Sample(id=k, path=str(folder / k), tags=tuple(v["tags"])) for k, v in images.items())
    tags = tuple(sorted({t for s in samples for t in s.tags}))
    manifest = Manifest(task="classification", tags=tags, samples=samples, name="quickstart")
    config = TrainConfig(image_size=288, pooling="gem", cache_dir=str(work / "cache"))
    return str(train(manifest, config, work / "run").artifact_path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifact", help="a trained classification artifact (default: train one)")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        artifact = args.artifact or train_quickstart(Path(tmp))
        code = CHILD.format(root=str(ROOT), artifact=artifact)
        image = jpeg_640()
        for run in range(1, args.runs + 1):
            out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, input=image, capture_output=True,
                                 check=True).stdout
            r = json.loads(out.decode().strip().splitlines()[-1])
            print(f"run {run}: first prediction {r['first_s']:.2f} s, RSS {r['rss_before']:.0f} -> "
                  f"{r['rss_after']:.0f} MiB, loaded {', '.join(r['loaded'])}; then {r['then_ms']:.1f} ms a "
                  f"prediction; {r['answer'][0]} {r['answer'][1]:.3f}", flush=True)


if __name__ == "__main__":
    main()
