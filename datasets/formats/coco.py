"""COCO object detection: one ``*.json`` (images, categories, annotations with pixel ``bbox`` [x, y, w, h]) and the
images it names. Written as ``annotations.json`` + ``images/``; the file loads in pycocotools (tests check)."""

from __future__ import annotations

import json
import posixpath
from typing import Any

import datasets.formats.boxes as boxes
from datasets.formats.archive import Archive, Writer, item_for
from datasets.formats.dataset import Dataset, FormatError, Item, Problems

NAME = "coco"
LABEL = "COCO (JSON)"
DETECTION = True


def _key(value: Any) -> Any:
    """An id as a dict key: numbers and strings as they are, anything else (a list, an object) by its JSON text."""
    return value if isinstance(value, (int, float, str)) else json.dumps(value, sort_keys=True)


def read(archive: Archive, problems: Problems) -> Dataset:
    """Every ``*.json`` of the zip is a COCO file, its images named relative to its folder: one file, or one per
    split as Roboflow and CVAT export them (``train/_annotations.coco.json``, ``valid/…``); categories by name."""
    found = archive.paths(suffixes=[".json"])
    if not found:
        raise FormatError("No COCO annotation file (*.json) in the zip.")
    dataset = Dataset(detection=True)
    for path in found:
        part = _read_one(archive, path, problems)
        dataset.items.extend(part.items)
        dataset.tags = list(dict.fromkeys([*dataset.tags, *part.tags]))
    return dataset


def _read_one(archive: Archive, path: str, problems: Problems) -> Dataset:
    try:
        doc = json.loads(archive.files[path].decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FormatError(f"{path} is not valid JSON: {exc}.") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("images"), list):
        raise FormatError(f"{path} has no \"images\" list: it is not a COCO file.")
    base = posixpath.dirname(path)
    bases = [base, posixpath.join(base, "images"), posixpath.join(posixpath.dirname(base), "images"), ""]

    categories: dict[Any, str] = {}
    for cat in doc.get("categories") or []:
        if isinstance(cat, dict) and "id" in cat and str(cat.get("name", "")).strip():
            categories[_key(cat["id"])] = str(cat["name"]).strip()
        else:
            problems.error(path, f"a category without an id or a name: {json.dumps(cat)[:80]}.")
    dataset = Dataset(detection=True, tags=list(dict.fromkeys(categories.values())))

    by_id: dict[Any, Item] = {}
    declared: dict[Any, tuple[float, float] | None] = {}
    seen: dict[str, Any] = {}
    for entry in doc["images"]:
        if not isinstance(entry, dict) or "id" not in entry or not str(entry.get("file_name", "")).strip():
            problems.error(path, f"an image entry without an id or a file_name: {json.dumps(entry)[:80]}.")
            continue
        ref = str(entry["file_name"])
        entry_id = _key(entry["id"])
        if ref in seen:
            problems.warning(path, f"image {ref!r} is listed twice (ids {seen[ref]} and {entry_id}); "
                                   "the boxes of both are imported on one image.")
            by_id[entry_id] = by_id.get(seen[ref]) or Item("", b"")
            continue
        seen[ref] = entry_id
        found_path = archive.find(ref, bases=bases)
        if found_path is None:
            problems.warning(ref, "is named in the COCO file but is not in the zip; its boxes are skipped.")
            continue
        item = item_for(archive, found_path, problems)
        if item is None:
            continue
        try:
            declared[entry_id] = (float(entry["width"]), float(entry["height"]))
        except (KeyError, TypeError, ValueError):
            declared[entry_id] = None
        by_id[entry_id] = item
        dataset.items.append(item)

    turned: set[str] = set()
    for ann in doc.get("annotations") or []:
        if not isinstance(ann, dict):
            continue
        image_id = _key(ann.get("image_id"))
        item = by_id.get(image_id)
        if item is None or not item.name:
            if image_id not in seen.values():
                problems.warning(path, f"annotation {ann.get('id')} refers to image id {image_id!r}, which the file "
                                       "does not list; it is skipped.")
            continue
        tag = categories.get(_key(ann.get("category_id")))
        if tag is None:
            problems.error(item.name, f"annotation {ann.get('id')} has category {ann.get('category_id')!r}, which "
                                      "the file's categories do not define (unknown class).")
            continue
        try:
            x, y, w, h = (float(v) for v in ann["bbox"])
        except (KeyError, TypeError, ValueError, OverflowError):
            problems.warning(item.name, f"annotation {ann.get('id')} has no valid bbox; it is skipped.")
            continue
        box = boxes.from_pixels(item, tag, x, y, w, h, declared=declared.get(image_id), where=item.name,
                                problems=problems, turned_note=turned)
        if box is not None:
            item.boxes.append(box)
    return dataset


def write(dataset: Dataset, out: Writer) -> None:
    cat_ids = {name: i for i, name in enumerate(dataset.all_tags(), start=1)}
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for image_id, item in enumerate(dataset.items, start=1):
        name = out.unique("images", item.name)
        out.add(f"images/{name}", item.content())
        images.append({"id": image_id, "file_name": name, "width": item.width, "height": item.height})
        for b in item.boxes:
            w, h = b.width * item.width, b.height * item.height
            annotations.append({
                "id": len(annotations) + 1, "image_id": image_id, "category_id": cat_ids[b.tag],
                "bbox": [b.left * item.width, b.top * item.height, w, h],
                "area": w * h, "iscrowd": 0, "segmentation": [],
            })
    doc = {
        "info": {"description": "Exported by Tagsight"},
        "images": images,
        "annotations": annotations,
        "categories": [{"id": i, "name": name, "supercategory": ""} for name, i in cat_ids.items()],
    }
    out.add("annotations.json", json.dumps(doc, ensure_ascii=False, indent=1))
