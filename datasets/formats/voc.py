"""Pascal VOC: one XML per image (``Annotations/x.xml``: filename, size, objects with a pixel ``bndbox``) and the
images (``JPEGImages/``). Coordinates are read and written as pixel edges (xmin = left), floats kept exact.

The standard library's ElementTree reads the XML: it never fetches external entities, and the expat it is built
with (>= 2.4.1) refuses entity-expansion bombs.
"""

from __future__ import annotations

import posixpath
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

import datasets.formats.boxes as boxes
from datasets.formats.archive import Archive, Writer, item_for
from datasets.formats.dataset import Dataset, FormatError, Item, Problems

NAME = "voc"
LABEL = "Pascal VOC (XML)"
DETECTION = True


def _num(node: ET.Element | None, tag: str) -> float:
    text = node.findtext(tag) if node is not None else None
    return float((text or "").strip())


def _by_stem(archive: Archive, name: str) -> str | None:
    stem = posixpath.splitext(posixpath.basename(name))[0].lower()
    same = [p for p in archive.images() if posixpath.splitext(posixpath.basename(p))[0].lower() == stem]
    return same[0] if len(same) == 1 else None


def read(archive: Archive, problems: Problems) -> Dataset:
    xml_paths = archive.paths(suffixes=[".xml"])
    if not xml_paths:
        raise FormatError("No Pascal VOC annotation files (*.xml) in the zip.")
    dataset = Dataset(detection=True)
    items: dict[str, Item] = {}
    turned: set[str] = set()
    for path in xml_paths:
        try:
            root = ET.fromstring(archive.files[path])
        except ET.ParseError as exc:
            problems.error(path, f"is not valid XML ({exc}).")
            continue
        if root.tag != "annotation":
            problems.error(path, "is not a Pascal VOC annotation (its root element is not <annotation>).")
            continue
        ref = (root.findtext("filename") or "").strip() or posixpath.splitext(posixpath.basename(path))[0] + ".jpg"
        folder = posixpath.dirname(posixpath.dirname(path))
        image_path = archive.find(ref, bases=[posixpath.join(folder, "JPEGImages"), posixpath.dirname(path),
                                             folder, ""])
        if image_path is None:  # <filename> without its extension, or with another: the image of the same stem
            image_path = _by_stem(archive, ref) or _by_stem(archive, posixpath.basename(path))
        if image_path is None:
            problems.warning(path, f"names the image {ref!r}, which is not in the zip; its boxes are skipped.")
            continue
        item = items.get(image_path)
        if item is None:
            item = item_for(archive, image_path, problems)
            if item is None:
                continue
            items[image_path] = item
            dataset.items.append(item)
        else:
            problems.warning(path, f"annotates {image_path} again; the boxes of both files are imported.")
        try:
            size = root.find("size")
            declared: tuple[float, float] | None = (_num(size, "width"), _num(size, "height"))
        except ValueError:
            declared = None
        for obj in root.iter("object"):
            tag = (obj.findtext("name") or "").strip()
            if not tag:
                problems.error(path, "has an <object> without a <name> (unknown class).")
                continue
            try:
                bnd = obj.find("bndbox")
                x0, y0, x1, y1 = (_num(bnd, k) for k in ("xmin", "ymin", "xmax", "ymax"))
            except ValueError:
                problems.warning(path, f"a {tag!r} object has no valid <bndbox>; it is skipped.")
                continue
            box = boxes.from_pixels(item, tag, x0, y0, x1 - x0, y1 - y0, declared=declared, where=path,
                                    problems=problems, turned_note=turned)
            if box is not None:
                item.boxes.append(box)
    for image_path in archive.images():
        if image_path not in items:
            problems.warning(image_path, "has no annotation file; it is skipped.")
    return dataset


def write(dataset: Dataset, out: Writer) -> None:
    for item in dataset.items:
        name = out.unique("JPEGImages", item.name)
        out.add(f"JPEGImages/{name}", item.content())
        objects = "".join(
            f"  <object>\n    <name>{escape(b.tag)}</name>\n    <pose>Unspecified</pose>\n"
            f"    <truncated>0</truncated>\n"
            f"    <difficult>0</difficult>\n    <bndbox>\n"
            f"      <xmin>{b.left * item.width!r}</xmin>\n      <ymin>{b.top * item.height!r}</ymin>\n"
            f"      <xmax>{(b.left + b.width) * item.width!r}</xmax>\n"
            f"      <ymax>{(b.top + b.height) * item.height!r}</ymax>\n    </bndbox>\n  </object>\n"
            for b in item.boxes
        )
        xml = (
            f"<annotation>\n  <folder>JPEGImages</folder>\n  <filename>{escape(name)}</filename>\n"
            f"  <size>\n    <width>{item.width}</width>\n    <height>{item.height}</height>\n    <depth>3</depth>\n"
            f"  </size>\n  <segmented>0</segmented>\n{objects}</annotation>\n"
        )
        out.add(f"Annotations/{posixpath.splitext(name)[0]}.xml", xml)
