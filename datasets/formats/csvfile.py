"""CSV: one row per tag (``file,tag``, classification) or per box (``file,tag,left,top,width,height``, object
detection, normalised 0–1 with left/top the top-left corner, as Azure's regions), plus the images. A header row
(``file,tag,…``) is optional; an image on a row with an empty tag is imported untagged."""

from __future__ import annotations

import csv
import io
import posixpath

import datasets.formats.boxes as boxes
from datasets.formats.archive import Archive, Writer, item_for
from datasets.formats.dataset import Dataset, FormatError, Item, Problems

NAME = "csv"
LABEL = "CSV (file,tag[,left,top,width,height])"
DETECTION = None  # both: the number of columns decides
FILE = "annotations.csv"
_HEADER = ["file", "tag", "left", "top", "width", "height"]


def read(archive: Archive, problems: Problems) -> Dataset:
    found = archive.paths(suffixes=[".csv"])
    if len(found) != 1:
        raise FormatError("A CSV import needs exactly one .csv file in the zip"
                          + (f"; it holds {len(found)}." if found else "."))
    path = found[0]
    text = archive.text(path, problems)
    if text is None:
        raise FormatError(f"{path} is not UTF-8 text.")
    rows = [(n, [c.strip() for c in row]) for n, row in enumerate(csv.reader(io.StringIO(text)), start=1)
            if any(c.strip() for c in row)]
    if rows and [c.lower() for c in rows[0][1]][:2] == ["file", "tag"]:
        rows = rows[1:]
    if not rows:
        raise FormatError(f"{path} has no rows.")
    widths = {len(row) for _, row in rows}
    detection = max(widths) >= 6
    base = posixpath.dirname(path)
    dataset = Dataset(detection=detection)
    items: dict[str, Item] = {}
    missing: set[str] = set()
    for number, row in rows:
        where = f"{path} line {number}"
        untagged = len(row) in (1, 2) and not "".join(row[1:])  # "file" or "file," : an image without tags
        if len(row) not in ((6,) if detection else (1, 2)) and not untagged:
            problems.error(where, f"has {len(row)} columns; every row must be "
                                  + ("file,tag,left,top,width,height (or file, for an image without boxes)."
                                     if detection else "file,tag."))
            continue
        ref, tag = row[0], row[1] if len(row) > 1 else ""
        image_path = archive.find(ref, bases=[base, posixpath.join(base, "images"), ""])
        if image_path is None:
            if ref not in missing:
                missing.add(ref)
                problems.warning(where, f"names {ref!r}, which is not in the zip; its rows are skipped.")
            continue
        item = items.get(image_path)
        if item is None:
            item = item_for(archive, image_path, problems)
            if item is None:
                missing.add(ref)
                continue
            items[image_path] = item
            dataset.items.append(item)
        if not tag:
            continue
        if not detection:
            if tag in item.tags:
                problems.warning(where, f"repeats tag {tag!r} for {ref}.")
            else:
                item.tags.append(tag)
            continue
        try:
            left, top, width, height = (float(v) for v in row[2:6])
        except ValueError:
            problems.error(where, "left, top, width and height must be numbers (normalised 0–1).")
            continue
        box = boxes.checked(tag, left, top, width, height, where=where, problems=problems)
        if box is not None:
            item.boxes.append(box)
    return dataset


def write(dataset: Dataset, out: Writer) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(_HEADER if dataset.detection else _HEADER[:2])
    for item in dataset.items:
        name = out.unique("images", item.name)
        out.add(f"images/{name}", item.content())
        if dataset.detection:
            for b in item.boxes:
                writer.writerow([f"images/{name}", b.tag, repr(b.left), repr(b.top), repr(b.width), repr(b.height)])
        for tag in (item.tags if not dataset.detection else []) or ([""] if not item.boxes else []):
            writer.writerow([f"images/{name}", tag])
    out.add(FILE, buf.getvalue())
