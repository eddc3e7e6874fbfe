"""OpenVino, DockerFile, TensorFlow and CoreML exports of a small classifier and a tiny detector: each runs in its
own runtime (the IR on OpenVINO, the container's app as a plain process answering Azure's contract, the SavedModel
on TensorFlow and the .tflite on LiteRT) and predicts like the Predictor; CoreML, which runs only on Apple
platforms, is checked by its spec and the program it was converted from."""

from __future__ import annotations

import functools
import http.server
import json
import subprocess
import sys
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from training.ml import TrainConfig
from training.ml.predict import Predictor

from .conftest import TAGS, photo_manifest, photos

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def classifier(tmp_path_factory: pytest.TempPathFactory, ml_cache: Path) -> str:
    from training.ml.classification import train_classifier

    config = TrainConfig(cache_dir=str(ml_cache), kfold=1)
    return train_classifier(photo_manifest(6), config, tmp_path_factory.mktemp("cls")).artifact_path


@pytest.fixture(scope="module")
def detector(tmp_path_factory: pytest.TempPathFactory) -> str:
    from tests.predictions.builders import DETECTION
    from training.ml.detection import train_detector
    from training.ml.detection.engine import Recipe
    from training.ml.detection.head import P3_STRIDES
    from training.ml.manifest import Box, Manifest, Sample

    manifest = json.loads((DETECTION / "manifest.json").read_text())
    samples = []
    for rel, info in list(manifest["images"].items())[::4]:
        boxes = tuple(Box(r["tag"], r["left"], r["top"], r["width"], r["height"]) for r in info["regions"])
        samples.append(Sample(id=rel, path=str(DETECTION / rel), tags=tuple(b.tag for b in boxes), boxes=boxes))
    # The four-level head (P3-P6, as auto_recipe picks for small objects): every platform exports the stride-8 level.
    recipe = Recipe(image_size=128, views_per_image=2, epochs=3, min_steps=0, batch_size=8, lr=3e-3, channels=32,
                    num_convs=1, strides=P3_STRIDES)
    result = train_detector(Manifest(task="detection", tags=tuple(manifest["tags"]), samples=tuple(samples)),
                            TrainConfig(seed=0, image_size=128, kfold=1), tmp_path_factory.mktemp("det"), recipe=recipe)
    return result.artifact_path


def _images() -> list[Path]:
    return photos(TAGS[0])[14:16] + photos(TAGS[1])[14:16]


def _isolated(script: Path, *args: str) -> Any:
    """A script of the zip in a separate, isolated interpreter: only its runtime, Pillow and numpy."""
    code = ("import runpy, sys; sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__'); "
            "assert not [m for m in sys.modules if m.split('.')[0] in ('training', 'django', 'torch')]")
    done = subprocess.run([sys.executable, "-I", "-c", code, str(script), *args], capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


CUT = 3  # the detector's exports are built with max_detections=CUT, a project's setting (the tiny one finds more)


def _cut(task: str) -> dict[str, int]:
    return {"max_detections": CUT} if task == "detection" else {}


def _check_cut(task: str, answers: list[list[Any]]) -> None:
    """A detector's export answers at most its max detections, and here exactly that many on some image."""
    if task == "detection":
        assert max(len(a) for a in answers) == CUT


def _check_draft(task: str, metadata: Path) -> None:
    """predict.py decodes big JPEGs at the model's draft factor, which it reads from metadata.json: a classifier's
    is recorded (1), a detector's is the default (2)."""
    assert json.loads(metadata.read_text()).get("draft_factor") == (1 if task == "classification" else None)


@pytest.mark.parametrize("task", ["classification", "detection"])
def test_openvino_ir_predicts_like_the_server(task: str, classifier: str, detector: str, tmp_path: Path) -> None:
    import openvino as ov

    from training.ml.export_openvino import export_openvino

    artifact = classifier if task == "classification" else detector
    cut = _cut(task)
    report = export_openvino(artifact, tmp_path, validation_images=_images(), **cut)
    assert report["passed"] and report["images"] == 4, report
    assert {"model.xml", "model.bin", "labels.txt", "metadata.json", "predict.py", "parity.json"} <= {
        p.name for p in tmp_path.iterdir()}
    assert not (tmp_path / "model.onnx").exists()
    model = ov.Core().read_model(str(tmp_path / "model.xml"))
    assert model.input(0).get_element_type() == ov.Type.u8 and model.input(0).get_partial_shape().is_dynamic
    assert json.loads((tmp_path / "metadata.json").read_text())["format"] == "openvino"
    _check_draft(task, tmp_path / "metadata.json")
    offline = _isolated(tmp_path / "predict.py", *map(str, _images()))
    server = Predictor.load(artifact)
    for row, path in zip(offline, _images(), strict=True):
        expected = server.predict(path, **cut)
        assert [p["tag"] for p in row["predictions"]] == [p.tag for p in expected]
        assert max((abs(a["probability"] - b.probability) for a, b in zip(row["predictions"], expected, strict=True)),
                   default=0.0) <= 1e-4
    _check_cut(task, [row["predictions"] for row in offline])


@pytest.mark.parametrize(("task", "flavor"), [("classification", "TensorFlowNormal"),
                                             ("classification", "TensorFlowLite"),
                                             ("detection", "TensorFlowNormal"), ("detection", "TensorFlowLite")])
def test_tensorflow_export_predicts_like_the_server_in_its_runtime(task: str, flavor: str, classifier: str,
                                                                   detector: str, tmp_path: Path) -> None:
    """Converted in a child process (TensorFlow and torch never share one), run there by the zip's own predict.py
    for parity.json, and again here by that script alone in an isolated interpreter."""
    from training.ml.export_tf import export_tensorflow

    artifact = classifier if task == "classification" else detector
    cut = _cut(task)
    report = export_tensorflow(artifact, tmp_path, flavor=flavor, validation_images=_images(), **cut)
    assert report["passed"] and report["images"] == 4 and report["max_abs_diff"] <= 1e-4, report
    lite = flavor == "TensorFlowLite"
    assert report["runtime"].startswith("ai-edge-litert" if lite else "tensorflow")
    names = {p.name for p in tmp_path.iterdir()}
    assert {"labels.txt", "metadata.json", "predict.py", "parity.json"} <= names and "model.onnx" not in names
    if lite:
        assert (tmp_path / "model.tflite").read_bytes()[4:8] == b"TFL3" and "saved_model" not in names
    else:
        assert (tmp_path / "saved_model" / "saved_model.pb").is_file() and "model.tflite" not in names
    assert json.loads((tmp_path / "metadata.json").read_text())["format"] == ("tflite" if lite else "saved_model")
    _check_draft(task, tmp_path / "metadata.json")
    offline = _isolated(tmp_path / "predict.py", *map(str, _images()))
    server = Predictor.load(artifact)
    for row, path in zip(offline, _images(), strict=True):
        expected = server.predict(path, **cut)
        assert [p["tag"] for p in row["predictions"]] == [p.tag for p in expected]
        for a, b in zip(row["predictions"], expected, strict=True):
            assert abs(a["probability"] - b.probability) <= 1e-4
            if b.box is not None:
                assert max(abs(a["box"][k] - getattr(b.box, k)) for k in ("left", "top", "width", "height")) <= 1e-4
    _check_cut(task, [row["predictions"] for row in offline])


def _post(url: str, data: bytes, content_type: str) -> tuple[int, Any]:
    request = urllib.request.Request(url, data=data, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def _multipart(data: bytes, field: str = "imageData") -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"x.jpg\"\r\n"
            f"Content-Type: image/jpeg\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


@pytest.mark.parametrize("task", ["classification", "detection"])
def test_docker_app_answers_azures_container_contract(task: str, classifier: str, detector: str,
                                                       tmp_path: Path) -> None:
    from training.ml.export_docker import export_docker, serve

    artifact = classifier if task == "classification" else detector
    ids = {"project_id": str(uuid.uuid4()), "iteration_id": str(uuid.uuid4())}
    cut = _cut(task)
    report = export_docker(artifact, tmp_path, flavor="ARM" if task == "detection" else "Linux",
                           validation_images=_images(), ids=ids, **cut)
    assert report["passed"] and report["images"] == 4, report
    dockerfile = (tmp_path / "Dockerfile").read_text()
    assert "linux/arm64" in dockerfile if task == "detection" else "linux/amd64" in dockerfile
    assert 'CMD ["python", "server.py"' in dockerfile and "COPY app /app" in dockerfile
    _check_draft(task, tmp_path / "app" / "metadata.json")
    image = _images()[0]
    data = image.read_bytes()
    expected = Predictor.load(artifact).predict(image, **cut)

    # /url fetches from a plain local HTTP server holding the image.
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(image.parent))
    files = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=files.serve_forever, daemon=True).start()
    try:
        with serve(tmp_path / "app") as url:
            raw = _post(f"{url}/image", data, "application/octet-stream")
            form = _post(f"{url}/image", *_multipart(data))
            by_url = _post(f"{url}/url", json.dumps({"url": f"http://127.0.0.1:{files.server_address[1]}/{image.name}"})
                           .encode(), "application/json")
            assert _post(f"{url}/image", b"", "application/octet-stream")[0] == 400
            assert _post(f"{url}/url", b'{"url": "file:///etc/passwd"}', "application/json")[0] == 400
    finally:
        files.shutdown()
    for status, body in (raw, form, by_url):
        assert status == 200, body
        assert set(body) == {"created", "id", "iteration", "project", "predictions"}
        assert body["project"] == ids["project_id"] and body["iteration"] == ids["iteration_id"]
        assert body["created"].endswith("Z")
        assert [p["tagName"] for p in body["predictions"]] == [p.tag for p in expected]
        for a, b in zip(body["predictions"], expected, strict=True):
            assert set(a) == {"tagId", "tagName", "probability", "boundingBox"}
            assert abs(a["probability"] - b.probability) <= 1e-4
            if b.box is None:
                assert a["boundingBox"] is None
            else:
                assert abs(a["boundingBox"]["left"] - b.box.left) <= 1e-4
    assert raw[1]["predictions"] == form[1]["predictions"] == by_url[1]["predictions"]
    _check_cut(task, [raw[1]["predictions"]])


def test_compact_onnx_export_holds_an_int8_model_with_its_report(classifier: str, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """int8 static quantisation calibrated on training images: a quarter of the size, nearly the same answers,
    and the report says (measured, not assumed) whether it meets the bar for replacing the fp32 model."""
    import onnx

    from training.ml.export import export_onnx
    from training.ml.quantize import int8_input_sizes

    calibration = photos(TAGS[0])[:6] + photos(TAGS[1])[:6]
    images = _images()
    truth = {p.stem: [TAGS[0] if p.name.startswith(TAGS[0]) else TAGS[1]] for p in images}
    report = export_onnx(classifier, tmp_path, validation_images=images, int8_calibration=calibration, truth=truth)
    assert report["passed"], report  # the fp32 model.onnx is unchanged by it
    int8 = report["int8"]
    graph = onnx.load(str(tmp_path / "model_int8.onnx")).graph
    assert {"QuantizeLinear", "DequantizeLinear"} <= {n.op_type for n in graph.node}
    # Only the backbone after its first block is int8: the stem, the first block (its depthwise conv and projection)
    # and the head read fp32 weights; 1x1 convs have 7-bit weights (no VPMADDUBSW saturation on CPUs without VNNI),
    # depthwise ones the full 8 bits.
    weights = {i.name: onnx.numpy_helper.to_array(i) for i in graph.initializer}
    convs = [n for n in graph.node if n.op_type == "Conv"]
    assert [weights[c.input[1]].dtype for c in convs[:3]] == [np.float32] * 3, [c.name for c in convs[:3]]
    assert "blocks.0/depthwise" in convs[1].name and "blocks.0/project" in convs[2].name, [c.name for c in convs[:3]]
    assert weights[next(n for n in graph.node if "embedding" in n.input).input[1]].dtype == np.float32
    producer = {o: n for n in graph.node for o in n.output}
    quantised = {"1x1": [], "depthwise": []}
    for conv in convs[3:]:
        w = weights[producer[conv.input[1]].input[0]]
        quantised["depthwise" if w.shape[1] == 1 else "1x1"].append(int(np.abs(w.astype(np.int32)).max()))
    assert quantised["1x1"] and max(quantised["1x1"]) <= 64 and min(quantised["depthwise"]) == 127, quantised
    assert int8["size_bytes"]["int8"] < 0.4 * int8["size_bytes"]["fp32"]
    assert int8["images"] == 4 and int8["top1_agreement"] == 1.0 and abs(int8["map_delta"]) <= 0.01, int8
    assert int8["cpu_vnni"] in (True, False, None), int8
    assert int8["fp32_ms_per_image"] > 0 and int8["int8_ms_per_image"] > 0
    assert int8["meets_bar"] == (int8["top1_agreement"] >= 0.99 and int8["map_delta"] >= -0.01
                                 and int8["speedup"] >= 1.8)
    assert json.loads((tmp_path / "metadata.json").read_text())["int8"]["file"] == "model_int8.onnx"
    offline = _isolated(tmp_path / "predict.py", "--int8", *map(str, images))
    agree = [row["predictions"][0]["tag"] == Predictor.load(classifier).predict(p)[0].tag
             for row, p in zip(offline, images, strict=True)]
    assert sum(agree) / len(agree) == int8["top1_agreement"]
    # Its input: the smallest tried whose answers stay within the bar, else the classifier's own; the graph resizes
    # to it.
    assert int8_input_sizes(224) == [192, 224]
    _check_int8_input(int8, tmp_path, 224, _classifier_resizes_to)
    # Where no smaller input is accurate enough, the classifier's own size is taken, and there the int8 model's
    # probabilities stay close to fp32's.
    monkeypatch.setattr("training.ml.quantize.MAX_MAP_DROP", -2.0)  # no int8 model may stand in at a smaller input
    strict = export_onnx(classifier, tmp_path / "strict", validation_images=images, int8_calibration=calibration,
                         truth=truth)["int8"]
    assert [(c["image_size"], c["taken"]) for c in strict["candidates"]] == [(192, False), (224, True)], strict
    assert strict["image_size"] == 224 and strict["max_abs_probability_diff"] <= 0.05, strict
    # The smaller size was judged on its fp32 graph first, already outside the bar, and never quantised.
    assert strict["candidates"][0]["screened"] is True and "speedup" not in strict["candidates"][0], strict
    # Without the images' tags nothing smaller is tried.
    untold = export_onnx(classifier, tmp_path / "untold", validation_images=images, int8_calibration=calibration)
    assert [c["image_size"] for c in untold["int8"]["candidates"]] == [224], untold["int8"]


def _check_int8_input(int8: dict[str, Any], folder: Path, size: int, resized_to: Callable[[Path], int]) -> None:
    """The int8 model's input (``quantize.smallest_accurate``): the first of ``int8_input_sizes(size)`` whose answers
    stay within the bar, else the model's own size, every size before it refused; its graph resizes to it, model.onnx
    to ``size``, and the smaller input's fp32 graph is not left behind."""
    from training.ml.quantize import accurate_smaller, int8_input_sizes

    tried = [c["image_size"] for c in int8["candidates"]]
    assert tried == int8_input_sizes(size)[:len(tried)] and tried[-1] == int8["image_size"], int8["candidates"]
    assert [c["taken"] for c in int8["candidates"]] == [False] * (len(tried) - 1) + [True]
    assert all(not accurate_smaller(c) for c in int8["candidates"][:-1]), int8["candidates"]
    assert int8["image_size"] == size or accurate_smaller(int8), int8
    assert int8["fp32_image_size"] == size
    assert json.loads((folder / "metadata.json").read_text())["int8"]["image_size"] == int8["image_size"]
    assert resized_to(folder / "model_int8.onnx") == int8["image_size"] and resized_to(folder / "model.onnx") == size
    assert not (folder / "model_int8_fp32.onnx").exists()


def _classifier_resizes_to(model: Path) -> int:
    """The side a classifier graph resizes its (cropped) input image to: its Resize's constant sizes."""
    import onnx

    graph = onnx.load(str(model)).graph
    values = {i.name: onnx.numpy_helper.to_array(i) for i in graph.initializer}
    (side,) = {int(values[n.input[3]][-1]) for n in graph.node if n.op_type == "Resize"}
    return side


def test_a_classifier_resized_smaller_answers_as_one_built_at_that_size(classifier: str, tmp_path: Path,
                                                                        ml_cache: Path) -> None:
    """The int8 classifier's smaller input (``quantize.classifier_at_size``) changes only the resize: its answers
    are those of the same head on a trunk exported at that size, whose static padding is built for it."""
    import onnx
    from onnx import numpy_helper

    from training.ml.artifacts import compose_classifier, read_metadata
    from training.ml.embeddings import export_trunk
    from training.ml.images import load_array
    from training.ml.quantize import classifier_at_size
    from training.ml.runtime import make_session

    model = Path(classifier) / "model.onnx"
    classifier_at_size(model, tmp_path / "resized.onnx", 192)
    head = {i.name: numpy_helper.to_array(i) for i in onnx.load(str(model)).graph.initializer
            if i.name.startswith("head_")}
    export_trunk("lite0", 192, tmp_path / "trunk192.onnx")
    meta = read_metadata(classifier)
    onnx.save(compose_classifier(tmp_path / "trunk192.onnx", image_size=192, weight=head["head_weight"],
                                 bias=head["head_bias"], multilabel=False, framings=meta["framings"]),
              str(tmp_path / "built.onnx"))
    resized, built = (make_session(tmp_path / name, 1) for name in ("resized.onnx", "built.onnx"))
    full = make_session(model, 1)
    moved = 0.0
    for path in _images():
        array = load_array(path, image_size=224)
        a, b, c = (s.run(["probabilities"], {"image": array})[0] for s in (resized, built, full))
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)
        moved = max(moved, float(np.abs(a - c).max()))
    assert moved > 1e-6  # it is not the 224 px model
    assert _classifier_resizes_to(tmp_path / "resized.onnx") == 192


@pytest.mark.parametrize("task", ["classification", "detection"])
def test_coreml_export_is_a_valid_core_ml_program_converted_from_the_served_model(
        task: str, classifier: str, detector: str, tmp_path: Path) -> None:
    """Core ML cannot run on Linux: the saved spec is reloaded and checked, the converted torch program matches the
    server, and the zip's predict.py prepares images exactly as the server does (to 8-bit rounding)."""
    from training.ml.export import load_standalone
    from training.ml.export_coreml import CoreMLExportError, coremltools, export_coreml, validate_spec

    artifact = classifier if task == "classification" else detector
    report = export_coreml(artifact, tmp_path, validation_images=_images(), **_cut(task))
    assert report["passed"] and report["images"] == 4 and report["max_abs_diff"] <= 1e-4, report
    assert report["coreml_run"] is False and "Apple" in report["note"]
    assert {"model.mlpackage", "labels.txt", "metadata.json", "predict.py", "parity.json"} <= {
        p.name for p in tmp_path.iterdir()}
    ct = coremltools()
    spec = ct.models.MLModel(str(tmp_path / "model.mlpackage"), skip_model_load=True).get_spec()
    (image,) = spec.description.input
    size = json.loads((tmp_path / "metadata.json").read_text())["image_size"]
    _check_draft(task, tmp_path / "metadata.json")
    assert (image.name, image.type.imageType.width, image.type.imageType.height) == ("image", size, size)
    tags = list(Predictor.load(artifact).tags)
    outputs = {o.name for o in spec.description.output}
    if task == "classification":
        assert outputs == {"classLabel", "classLabel_probs"} and report["spec"]["labels"] == tags
        assert report["image_input"]["max_abs_diff"] <= 1e-3, report["image_input"]
    else:
        assert outputs == {"boxes", "scores", "labels"} and report["spec"]["nms_inside"] is True
        assert json.loads((tmp_path / "metadata.json").read_text())["max_detections"] == CUT
        assert max(row["predictor_boxes"] for row in report["per_image"]) == CUT  # the parity compared the cut
    with pytest.raises(CoreMLExportError, match="labels"):
        validate_spec(tmp_path / "model.mlpackage", task=task, tags=tags[::-1], image_size=size)
    # predict.py's image preparation (Core ML's model_input) is the server's, to the rounding to 8 bits.
    script = load_standalone(tmp_path)
    arr = script.model_input(str(_images()[0]))
    assert arr.shape == (size, size, 3) and arr.dtype.name == "uint8"


def _resized_to(model: Path) -> int:
    """The side a detector graph resizes its input image to (its first Resize's sizes: the image's leading dims, then
    the constant [side, side])."""
    import onnx

    graph = onnx.load(str(model)).graph
    values = {i.name: onnx.numpy_helper.to_array(i) for i in graph.initializer}
    values.update({n.output[0]: onnx.numpy_helper.to_array(a.t) for n in graph.node if n.op_type == "Constant"
                   for a in n.attribute if a.name == "value"})
    producer = {o: n for n in graph.node for o in n.output}
    resize = next(n for n in graph.node if n.op_type == "Resize")
    sides = [values[i] for i in producer[resize.input[3]].input if i in values]
    assert len(sides) == 1 and sides[0].tolist()[0] == sides[0].tolist()[1], sides
    return int(sides[0][0])


def test_compact_detector_onnx_export_holds_an_int8_model_with_its_box_map(detector: str, tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """The detector's int8 model: backbone, pyramid and towers int8; pre-processing, prediction convs, box decoding
    and NMS fp32; the report has the box mAP@0.5 of both models and their speed; predict.py --int8 runs it."""
    import onnx

    from tests.predictions.builders import DETECTION
    from training.ml.export import export_onnx
    from training.ml.quantize import int8_input_sizes

    manifest = json.loads((DETECTION / "manifest.json").read_text())["images"]
    rels = list(manifest)
    images = [DETECTION / rel for rel in rels[1::4][:4]]
    truth = {(DETECTION / rel).stem: manifest[rel]["regions"] for rel in rels[1::4][:4]}
    report = export_onnx(detector, tmp_path, validation_images=images,
                         int8_calibration=[DETECTION / rel for rel in rels[::4]], truth=truth)
    assert report["ok"], report  # the fp32 model.onnx is unchanged by it
    int8 = report["int8"]
    graph = onnx.load(str(tmp_path / "model_int8.onnx")).graph
    weights = {i.name: onnx.numpy_helper.to_array(i) for i in graph.initializer}
    convs = [n for n in graph.node if n.op_type == "Conv"]
    producer = {o: n for n in graph.node for o in n.output}
    int8_convs = [n.name for n in convs if n.input[1] in producer and producer[n.input[1]].op_type == "DequantizeLinear"
                  and weights[producer[n.input[1]].input[0]].dtype == np.int8]
    fp32_convs = [n.name for n in convs if n.input[1] in weights and weights[n.input[1]].dtype == np.float32]
    assert any("blocks" in n for n in int8_convs) and any("tower" in n for n in int8_convs), int8_convs
    outputs = ("cls_logits", "bbox_pred", "centerness")
    assert "stem" in fp32_convs[0] and not any(k in n for n in int8_convs for k in outputs), int8_convs
    assert all("blocks.0/" in n for n in fp32_convs[1:3]) and not any("blocks.0/" in n for n in int8_convs), fp32_convs
    assert sum(any(k in n for k in outputs) for n in fp32_convs) == 3 * 4, fp32_convs  # 4 levels (8, 16, 32, 64)
    assert "Resize" in {n.op_type for n in graph.node}  # the pre-processing, fp32
    assert int8["task"] == "detection" and int8["images"] == 4, int8
    assert int8["size_bytes"]["int8"] < int8["size_bytes"]["fp32"]
    assert 0.0 <= int8["fp32_map"] <= 1.0 and 0.0 <= int8["int8_map"] <= 1.0, int8
    assert int8["map_delta"] == int8["int8_map"] - int8["fp32_map"] and int8["speedup"] > 0
    assert int8["meets_bar"] == (int8["map_delta"] >= -0.01 and int8["speedup"] >= 1.8)
    assert json.loads((tmp_path / "parity.json").read_text())["int8"]["images"] == 4
    assert json.loads((tmp_path / "metadata.json").read_text())["int8"]["file"] == "model_int8.onnx"
    # Its input: the smallest tried whose boxes stay within the bar, else the detector's own; the graph resizes to it.
    assert int8_input_sizes(128) == [96, 128] and int8_input_sizes(320) == [256, 288, 320]
    _check_int8_input(int8, tmp_path, 128, _resized_to)
    # Where the smaller input loses boxes, the next size is tried, and the detector's own size is always taken.
    monkeypatch.setattr("training.ml.quantize.MAX_MAP_DROP", -2.0)  # no int8 model may stand in at a smaller input
    strict = export_onnx(detector, tmp_path / "strict", validation_images=images,
                         int8_calibration=[DETECTION / rel for rel in rels[::4]], truth=truth)["int8"]
    assert [(c["image_size"], c["taken"]) for c in strict["candidates"]] == [(96, False), (128, True)], strict
    assert strict["image_size"] == 128 == _resized_to(tmp_path / "strict" / "model_int8.onnx")
    offline = _isolated(tmp_path / "predict.py", "--int8", *map(str, images))
    assert [row["image"] for row in offline] == list(map(str, images))
    for row in offline:
        assert all(set(p) == {"tag", "probability", "box"} and p["tag"] in ("fork", "scissors")
                   for p in row["predictions"])


@pytest.fixture(scope="module")
def tiled_detector(detector: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The tiny detector as training leaves a model that tiles (metadata.json "tiles"; training.ml.detection.tiles):
    the whole image and 2 x 2 overlapping tiles, merged."""
    import shutil

    from training.ml.detection import tiles

    folder = tmp_path_factory.mktemp("tiled") / "model"
    shutil.copytree(detector, folder)
    meta = json.loads((folder / "metadata.json").read_text())
    (folder / "metadata.json").write_text(json.dumps({**meta, "tiles": tiles.settings()}))
    return str(folder)


def test_a_tiling_detector_tiles_alike_on_the_server_and_in_every_export(detector: str, tiled_detector: str,
                                                                         tmp_path: Path) -> None:
    """Every platform's predict.py tiles with the server's own code (training.ml.detection.tiles, in the script),
    each part cut to the project's max detections as the graph cuts it: the parity reports compare tiled answers,
    and the ONNX, OpenVINO and TensorFlow scripts, run alone, answer as the server does."""
    from training.ml.export import export_onnx
    from training.ml.export_coreml import export_coreml
    from training.ml.export_docker import export_docker
    from training.ml.export_openvino import export_openvino
    from training.ml.export_tf import export_tensorflow

    images = _images()
    server, whole = Predictor.load(tiled_detector), Predictor.load(detector)
    answers = {str(p): server.predict(p, max_detections=CUT) for p in images}
    assert any(answers[str(p)] != whole.predict(p, max_detections=CUT) for p in images)  # the tiles change answers
    built: dict[str, Any] = {
        "ONNX": export_onnx(tiled_detector, tmp_path / "onnx", validation_images=images, max_detections=CUT),
        "OpenVino": export_openvino(tiled_detector, tmp_path / "openvino", validation_images=images,
                                    max_detections=CUT),
        "TensorFlow": export_tensorflow(tiled_detector, tmp_path / "tf", flavor="TensorFlowNormal",
                                        validation_images=images, max_detections=CUT),
        "CoreML": export_coreml(tiled_detector, tmp_path / "coreml", validation_images=images, max_detections=CUT),
        "DockerFile": export_docker(tiled_detector, tmp_path / "docker", flavor="Linux", validation_images=images,
                                    max_detections=CUT),
    }
    for platform, report in built.items():
        assert report.get("ok", report.get("passed")) and report["images"] == 4, (platform, report)
        assert report["tiled"] is True, platform
    for folder in ("onnx", "openvino", "tf", "coreml", "docker/app"):
        assert json.loads((tmp_path / folder / "metadata.json").read_text())["tiles"] == server.tiles, folder
    for folder in ("onnx", "openvino", "tf"):
        offline = _isolated(tmp_path / folder / "predict.py", *map(str, images))
        for row in offline:
            expected = answers[row["image"]]
            assert [p["tag"] for p in row["predictions"]] == [p.tag for p in expected], folder
            for a, b in zip(row["predictions"], expected, strict=True):
                assert abs(a["probability"] - b.probability) <= 1e-4, folder
                assert max(abs(a["box"][k] - getattr(b.box, k)) for k in ("left", "top", "width", "height")) <= 1e-4


@pytest.fixture(scope="module")
def gem_classifier(tmp_path_factory: pytest.TempPathFactory, ml_cache: Path) -> str:
    """General's kind of classifier: GeM pooling of the head's unclipped (ReLU) map, at an input larger than the
    backbone's own (192 px here, to keep it small; General's is 288)."""
    from training.ml.classification import train_classifier

    config = TrainConfig(cache_dir=str(ml_cache), kfold=1, image_size=192, pooling="gem-unclipped")
    return train_classifier(photo_manifest(6), config, tmp_path_factory.mktemp("gem")).artifact_path


@pytest.mark.parametrize("platform", ["ONNX10", "ONNX12", "OpenVino", "TensorFlowLite", "CoreML"])
def test_a_gem_pooled_classifier_exports_to_every_platform_and_answers_as_the_server(
        platform: str, gem_classifier: str, tmp_path: Path) -> None:
    """GeM pooling's cube, mean and cube root are plain Mul, GlobalAveragePool, Add and Pow nodes: every converter
    takes them and every runtime answers as the server does; Core ML's torch program pools the same way."""
    import onnx

    from training.ml.export import export_onnx
    from training.ml.export_coreml import export_coreml
    from training.ml.export_openvino import export_openvino
    from training.ml.export_tf import export_tensorflow

    assert json.loads((Path(gem_classifier) / "metadata.json").read_text())["pooling"] == "gem-unclipped"
    if platform.startswith("ONNX"):
        report = export_onnx(gem_classifier, tmp_path, validation_images=_images(), opset=int(platform[4:]))
        ops = [n.op_type for n in onnx.load(str(tmp_path / "model.onnx")).graph.node]
        assert {"Pow", "GlobalAveragePool", "Relu"} <= set(ops), ops
    elif platform == "OpenVino":
        report = export_openvino(gem_classifier, tmp_path, validation_images=_images())
    elif platform == "TensorFlowLite":
        report = export_tensorflow(gem_classifier, tmp_path, flavor=platform, validation_images=_images())
    else:
        report = export_coreml(gem_classifier, tmp_path, validation_images=_images())
    assert report["passed"] and report["images"] == 4 and report["max_abs_diff"] <= 1e-4, report


def test_gem_pooling_is_the_generalised_mean_and_stays_fp32_in_an_int8_model(gem_classifier: str,
                                                                             tmp_path: Path) -> None:
    """The trunk's embedding is (mean(x^3) + eps)^(1/3) of its last map, between that map's mean and its maximum;
    the int8 quantiser leaves those powers in fp32 (an int8 cube would round the small responses away)."""
    import onnx
    import torch

    from training.ml.backbones import create_backbone
    from training.ml.quantize import quantize_classifier

    x = torch.randn(2, 3, 128, 128) * 3
    for pooling in ("gem", "gem-unclipped"):
        net = create_backbone("lite0", image_size=128, pooling=pooling)
        with torch.no_grad():
            features = net.forward_features(x)
            pooled = net.forward_pooled(x)
            # Before the head's activation: "gem" pools its ReLU6 (clipped at 6), "gem-unclipped" its ReLU.
            before = torch.nn.Sequential(*list(net.head)[:-1])(net.blocks(net.stem(x)))
        expected = ((features**3).mean((2, 3)) + 1e-6) ** (1 / 3)
        assert torch.allclose(pooled, expected, atol=1e-5)
        top = (features.amax((2, 3)) ** 3 + 1e-6) ** (1 / 3)  # the eps lifts a channel that is zero everywhere
        assert torch.all(pooled >= features.mean((2, 3)) - 1e-5) and torch.all(pooled <= top + 1e-5)
        ceiling = 6.0 if pooling == "gem" else float("inf")
        assert torch.equal(features, before.clamp(0.0, ceiling)), pooling
    assert before.amax() > 6  # the unclipped map keeps what ReLU6 would cut

    int8 = tmp_path / "int8.onnx"
    quantize_classifier(Path(gem_classifier) / "model.onnx", int8, calibration_images=photos(TAGS[0])[:4],
                        image_size=192)
    graph = onnx.load(str(int8)).graph
    producer = {o: n for n in graph.node for o in n.output}
    powers = [n for n in graph.node if n.op_type in ("Mul", "Pow") and "pp_" not in n.input[0]]
    pool = next(n for n in graph.node if n.op_type == "GlobalAveragePool")
    assert len(powers) == 3 and producer[pool.input[0]].op_type == "Mul", [n.op_type for n in powers]
    quantised = {i for n in graph.node if n.op_type == "QuantizeLinear" for i in n.input}
    assert not quantised & {o for n in [*powers, pool] for o in n.output}, "GeM's powers must stay fp32"
    assert any(n.op_type == "QuantizeLinear" for n in graph.node)  # the convolutions before them are int8
