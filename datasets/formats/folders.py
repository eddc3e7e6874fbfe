"""Folder per tag (classification): ``<tag>/<image>``; images at the top are untagged. A zip that wraps it all in
one folder is read the same. The same image in several folders gets each folder's tag (multilabel)."""

from __future__ import annotations

import hashlib

from datasets.formats.archive import Archive, Writer, common_root, item_for, safe_name
from datasets.formats.dataset import Dataset, FormatError, Item, Problems

NAME = "folders"
LABEL = "Folder per tag (classification)"
DETECTION = False


def read(archive: Archive, problems: Problems) -> Dataset:
    paths = archive.images()
    if not paths:
        raise FormatError("No images in the zip.")
    root = common_root(paths)
    if root and any(p.count("/") < 2 for p in paths):  # images directly in the one folder: that folder is a tag
        root = ""
    dataset = Dataset(detection=False)
    by_sha: dict[str, Item] = {}
    for path in paths:
        rel = path[len(root) + 1:] if root else path
        item = item_for(archive, path, problems)
        if item is None:
            continue
        if "/" in rel:
            tag, rest = rel.split("/", 1)
            if "/" in rest:
                problems.warning(path, f"lies in a sub-folder of {tag!r}; it is tagged {tag!r}.")
            item.tags.append(tag.strip())
        sha = hashlib.sha256(item.data).hexdigest()
        first = by_sha.get(sha)
        if first is not None and item.tags and not set(item.tags) & set(first.tags):
            first.tags.extend(item.tags)  # the same picture in another tag's folder: how folders say multilabel
            continue
        by_sha.setdefault(sha, item)
        dataset.items.append(item)
    for path in archive.paths():
        if path not in archive.files or path in paths:
            continue
        problems.warning(path, "is not an image (JPEG, PNG, BMP, GIF or WebP); it is skipped.")
    return dataset


def write(dataset: Dataset, out: Writer) -> None:
    for item in dataset.items:
        for tag in item.tags or [""]:
            folder = safe_name(tag) if tag else ""
            name = out.unique(folder or ".", item.name)
            out.add(f"{folder}/{name}" if folder else name, item.content())
