"""YOLO in the Ultralytics layout: ``data.yaml`` (``names``) with ``images/<split>/x.jpg`` and
``labels/<split>/x.txt``, one ``class cx cy w h`` line per box, normalised to the image (PyYAML reads the yaml)."""

from __future__ import annotations

import posixpath
from typing import Any

import yaml

import datasets.formats.boxes as boxes
from datasets.formats.archive import Archive, Writer, item_for, iter_lines
from datasets.formats.dataset import Dataset, FormatError, Problems

NAME = "yolo"
LABEL = "YOLO (Ultralytics data.yaml)"
DETECTION = True


def _names(doc: Any, path: str) -> list[str]:
    names = doc.get("names") if isinstance(doc, dict) else None
    if isinstance(names, list):
        return [str(n).strip() for n in names]
    if isinstance(names, dict):
        try:
            ids = sorted(int(k) for k in names)
        except (TypeError, ValueError) as exc:
            raise FormatError(f"{path}: the keys of \"names\" must be class numbers.") from exc
        if ids != list(range(len(ids))):
            raise FormatError(f"{path}: \"names\" must number its classes 0, 1, 2, … without gaps.")
        return [str(names.get(i, names.get(str(i)))).strip() for i in ids]
    raise FormatError(f"{path} has no \"names\" list of classes.")


def _label_path(image_path: str) -> str:
    """images/train/x.jpg -> labels/train/x.txt (the last "images" folder of the path becomes "labels")."""
    parts = image_path.split("/")
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            break
    return posixpath.splitext("/".join(parts))[0] + ".txt"


def read(archive: Archive, problems: Problems) -> Dataset:
    found = sorted(archive.paths(suffixes=["data.yaml", "data.yml"]), key=lambda p: (p.count("/"), p))
    if not found:
        found = sorted(archive.paths(suffixes=[".yaml", ".yml"]), key=lambda p: (p.count("/"), p))
    if not found:
        raise FormatError("No data.yaml in the zip: a YOLO dataset names its classes there.")
    path = found[0]
    try:
        doc = yaml.safe_load(archive.files[path].decode("utf-8-sig"))
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise FormatError(f"{path} is not valid YAML.") from exc
    names = _names(doc, path)
    root = posixpath.dirname(path)
    dataset = Dataset(detection=True, tags=[n for n in names if n])
    for n, name in enumerate(names):
        if not name:
            problems.error(path, f"class {n} has an empty name.")
    image_paths = [p for p in archive.images(under=root) if "/images/" in f"/{p}"]
    if not image_paths:
        raise FormatError(f"No images under an images/ folder next to {path}.")
    labels_used: set[str] = set()
    for image_path in image_paths:
        item = item_for(archive, image_path, problems)
        label_path = _label_path(image_path)
        labels_used.add(label_path)
        if item is None:
            continue
        dataset.items.append(item)
        if label_path not in archive.files:
            continue  # Ultralytics: no label file = a background image
        text = archive.text(label_path, problems)
        for number, line in iter_lines(text or ""):
            where = f"{label_path} line {number}"
            fields = line.split()
            try:
                cls, values = int(fields[0]), [float(v) for v in fields[1:]]
            except (ValueError, IndexError):
                problems.error(where, f"cannot be read as \"class x_center y_center width height\": {line.strip()!r}.")
                continue
            if not 0 <= cls < len(names) or not names[cls]:
                problems.error(where, f"class {cls} is not in {path}'s names (unknown class).")
                continue
            if len(values) == 4:
                cx, cy, w, h = values
                left, top = cx - w / 2, cy - h / 2
            elif len(values) >= 6 and len(values) % 2 == 0:  # a segmentation polygon: its bounding box
                xs, ys = values[0::2], values[1::2]
                left, top, w, h = min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)
                problems.warning(where, "is a polygon; its bounding box is imported.")
            else:
                problems.error(where, f"has {len(values)} numbers after the class; a box has 4.")
                continue
            box = boxes.checked(names[cls], left, top, w, h, where=where, problems=problems)
            if box is not None:
                item.boxes.append(box)
    for label_path in archive.paths(under=root, suffixes=[".txt"]):
        if "/labels/" in f"/{label_path}" and label_path not in labels_used:
            problems.warning(label_path, "has no image next to it (images/… with the same name); it is skipped.")
    return dataset


def write(dataset: Dataset, out: Writer) -> None:
    names = dataset.all_tags()
    index = {name: i for i, name in enumerate(names)}
    for item in dataset.items:
        name = out.unique("images/train", item.name)
        out.add(f"images/train/{name}", item.content())
        lines = [
            f"{index[b.tag]} {b.left + b.width / 2!r} {b.top + b.height / 2!r} {b.width!r} {b.height!r}"
            for b in item.boxes
        ]
        out.add(f"labels/train/{posixpath.splitext(name)[0]}.txt", "".join(f"{line}\n" for line in lines))
    doc = {"path": ".", "train": "images/train", "val": "images/train", "nc": len(names),
           "names": dict(enumerate(names))}
    out.add("data.yaml", yaml.safe_dump(doc, allow_unicode=True, sort_keys=False))
