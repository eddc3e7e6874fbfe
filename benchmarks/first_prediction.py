"""A web worker's first prediction: time and memory of loading and running a model in a process that has imported the
web tier, as a gunicorn worker has.

    .venv/bin/python benchmarks/first_prediction.py [--detect] [--artifact DIR] [--runs 3]

Without --artifact it trains a model on the Azure quickstart (training.ml.train, in a temporary folder): a classifier
with General's recipe (EfficientNet-Lite0 at 288 px, GeM pooling) on its Hemlock / Japanese Cherry photos, or with
--detect a detector with General's quick recipe on its forks and scissors. Each run is a fresh interpreter: it
imports portal.wsgi, then loads the artifact's Predictor and predicts the quickstart's test image of that task
(scaled to 640 px), and prints the time of that first prediction, the process's RSS before and after it, which ML
modules it loaded (torch, onnx, onnxruntime) and the median time of 20 predictions after it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import DATASETS, ROOT  # benchmarks/ is on sys.path when run as a script
from predict_api import jpeg_640

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


def train_quickstart(work: Path, detect: bool) -> str:
    sys.path.insert(0, str(ROOT))
    from training.ml import Manifest, TrainConfig, train

    manifest = Manifest.from_json(DATASETS / "azure-quickstart" / ("detection" if detect else "classification")
                                  / "manifest.json")
    config = TrainConfig(cache_dir=str(work / "cache")) if detect else TrainConfig(
        image_size=288, pooling="gem", cache_dir=str(work / "cache"))
    return str(train(manifest, config, work / "run").artifact_path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--detect", action="store_true", help="a detector (with --artifact: its task decides)")
    parser.add_argument("--artifact", help="a trained artifact (default: train one)")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        artifact = args.artifact or train_quickstart(Path(tmp), args.detect)
        code = CHILD.format(root=str(ROOT), artifact=artifact)
        detect = json.loads((Path(artifact) / "metadata.json").read_text())["task"] == "detection"
        image = jpeg_640(detect)
        for run in range(1, args.runs + 1):
            out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, input=image, capture_output=True,
                                 check=True).stdout
            r = json.loads(out.decode().strip().splitlines()[-1])
            print(f"run {run}: first prediction {r['first_s']:.2f} s, RSS {r['rss_before']:.0f} -> "
                  f"{r['rss_after']:.0f} MiB, loaded {', '.join(r['loaded'])}; then {r['then_ms']:.1f} ms a "
                  f"prediction; {r['answer'][0]} {r['answer'][1]:.3f}", flush=True)


if __name__ == "__main__":
    main()
