"""Exports: per platform, export time, zip size, latency / throughput of the exported model in its own runtime
and its parity figures; fp32 and int8 ONNX side by side in the same run.

    .venv/bin/python benchmarks/exports.py [--artifact DIR] [--rounds 3] [--threads 1]

Without --artifact it trains the compact domain's classifier (EfficientNet-Lite0, 224 px) on the Azure
quickstart's forks and scissors (14 + 14 training photos, 6 + 6 held out for parity and timing). Latencies are
of the model alone on decoded images (uint8 arrays; pre-processing is in every graph), single-threaded by default,
the runtimes interleaved image by image so that load on a shared machine hits all alike; the DockerFile app is
timed end to end over HTTP (POST /image, decode included) since that is how it is used. TensorFlow's SavedModel and
TFLite are timed the same way as the ONNX runtimes (model alone, decoded images, same threads) but in a child
process (TensorFlow and torch cannot share one here), after the in-process runtimes, so not interleaved with them.
CoreML has no latency here (n/a): Core ML runs only on Apple platforms.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from training.ml import Manifest, Sample, TrainConfig  # noqa: E402
from training.ml.images import draft_factor, load_array  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "azure-quickstart" / "detection"
TAGS = ("fork", "scissors")


def _photos() -> tuple[list[Path], list[Path]]:
    train, held = [], []
    for tag in TAGS:
        files = sorted((DATA / tag).glob("*.jpg"))
        train += files[:14]
        held += files[14:20]
    return train, held


def _zip_size(folder: Path) -> int:
    target = folder.with_suffix(".zip")
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                zf.write(path, path.relative_to(folder).as_posix())
    return target.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--artifact", help="a trained classification artifact (default: train one)")
    parser.add_argument("--rounds", type=int, default=3, help="timed passes over the held-out images")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    train, held = _photos()
    work = Path(tempfile.mkdtemp(prefix="tagsight-bench-exports-"))
    try:
        artifact = args.artifact or _train(train, work)
        rows = _run(artifact, train, held, work, rounds=args.rounds, threads=args.threads)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(rows, indent=1))
    print(f"\n{'platform':<28}{'export s':>9}{'zip MB':>8}{'ms/img':>9}{'img/s':>8}  parity")
    for r in rows:
        ms = r["ms_per_image"]
        speed = f"{ms:>9.1f}{1000 / ms:>8.1f}" if ms else f"{'n/a':>9}{'n/a':>8}"  # CoreML: no Core ML on Linux
        print(f"{r['platform']:<28}{r['export_s']:>9.1f}{r['zip_bytes'] / 1e6:>8.2f}{speed}  {r['parity']}")


def _train(train: list[Path], work: Path) -> str:
    from training.ml.classification import train_classifier

    samples = tuple(Sample(id=p.name, path=str(p), tags=(p.parent.name,)) for p in train)
    manifest = Manifest(task="classification", tags=TAGS, samples=samples, name="bench")
    start = time.perf_counter()
    result = train_classifier(manifest, TrainConfig(kfold=1, cache_dir=str(work / "cache")), work / "train")
    print(f"trained in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    return result.artifact_path


def _run(artifact: str, train: list[Path], held: list[Path], work: Path, *, rounds: int, threads: int
         ) -> list[dict[str, Any]]:
    import openvino as ov

    from training.ml.export import export_onnx
    from training.ml.export_coreml import export_coreml
    from training.ml.export_docker import export_docker, post_image, serve
    from training.ml.export_openvino import export_openvino
    from training.ml.export_tf import export_tensorflow, time_export
    from training.ml.quantize import int8_report
    from training.ml.runtime import make_session

    truth = {p.stem: [p.parent.name] for p in held}
    timings: dict[str, float] = {}

    def build(name: str, fn: Any) -> dict[str, Any]:
        start = time.perf_counter()
        report = fn(work / name)
        timings[name] = time.perf_counter() - start
        return report

    reports = {
        "ONNX": build("ONNX", lambda d: export_onnx(artifact, d, validation_images=held)),
        "ONNX int8": build("ONNX int8", lambda d: export_onnx(artifact, d, validation_images=held,
                                                               int8_calibration=train, truth=truth)),
        "ONNX ONNX12": build("ONNX ONNX12", lambda d: export_onnx(artifact, d, validation_images=held, opset=12)),
        "ONNX ONNX10": build("ONNX ONNX10", lambda d: export_onnx(artifact, d, validation_images=held, opset=10)),
        "OpenVino": build("OpenVino", lambda d: export_openvino(artifact, d, validation_images=held)),
        "DockerFile Linux": build("DockerFile Linux", lambda d: export_docker(artifact, d, validation_images=held)),
        "CoreML": build("CoreML", lambda d: export_coreml(artifact, d, validation_images=held)),
        "TensorFlow TensorFlowNormal": build("TensorFlow TensorFlowNormal", lambda d: export_tensorflow(
            artifact, d, flavor="TensorFlowNormal", validation_images=held)),
        "TensorFlow TensorFlowLite": build("TensorFlow TensorFlowLite", lambda d: export_tensorflow(
            artifact, d, flavor="TensorFlowLite", validation_images=held)),
    }
    # The int8 row's export time is the quantisation on top of the fp32 export; its zip holds both models.
    arrays = [load_array(p, image_size=224, draft=draft_factor(json.loads(Path(artifact, "metadata.json").read_text())))
              for p in held]
    core = ov.Core()
    core.set_property("CPU", {"INFERENCE_NUM_THREADS": threads})
    compiled = core.compile_model(str(work / "OpenVino" / "model.xml"), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    runners = {
        "ONNX": make_session(work / "ONNX" / "model.onnx", threads).run,
        "ONNX int8": make_session(work / "ONNX int8" / "model_int8.onnx", threads).run,
        "ONNX ONNX12": make_session(work / "ONNX ONNX12" / "model.onnx", threads).run,
        "ONNX ONNX10": make_session(work / "ONNX ONNX10" / "model.onnx", threads).run,
        "OpenVino": lambda _names, feeds: compiled(feeds),
    }
    seconds = dict.fromkeys(runners, 0.0)
    for run in runners.values():
        run(None, {"image": arrays[0]})  # warm-up
    for _ in range(rounds):
        for array in arrays:  # interleaved: each image through every runtime back to back
            for name, run in runners.items():
                start = time.perf_counter()
                run(None, {"image": array})
                seconds[name] += time.perf_counter() - start
    n = rounds * len(arrays)
    with serve(work / "DockerFile Linux" / "app") as url:
        post_image(url, held[0].read_bytes())
        start = time.perf_counter()
        for _ in range(rounds):
            for p in held:
                post_image(url, p.read_bytes())
        seconds["DockerFile Linux"] = time.perf_counter() - start
    for flavor in ("TensorFlowNormal", "TensorFlowLite"):
        name = f"TensorFlow {flavor}"
        seconds[name] = time_export(work / name, held, rounds=rounds, threads=threads) * n / 1000
    int8 = int8_report(work / "ONNX int8" / "model.onnx", work / "ONNX int8" / "model_int8.onnx", held,
                       tags=TAGS, image_size=224, truth=truth, threads=threads)
    rows = []
    for name, report in reports.items():
        if name == "ONNX int8":
            parity = (f"top-1 agreement {int8['top1_agreement']:.3f}, mAP {int8['fp32_map']:.3f} -> "
                      f"{int8['int8_map']:.3f}, speed-up {seconds['ONNX'] / seconds[name]:.2f}x (timing loop), "
                      f"{int8['speedup']:.2f}x (report), meets bar: {int8['meets_bar']}, CPU VNNI: {int8['cpu_vnni']}")
        else:
            parity = f"max |dp| {report['max_abs_diff']:.1e} on {report['images']} images, passed {report['passed']}"
        rows.append({"platform": name, "export_s": timings[name], "zip_bytes": _zip_size(work / name),
                     "ms_per_image": 1000 * seconds[name] / n if name in seconds else None, "parity": parity})
    return rows


if __name__ == "__main__":
    main()
