"""Dataset import/export speed on the shared raccoon set (200 real photos with boxes), every detection format.

    .venv/bin/python benchmarks/dataset_formats.py [--images 200]

Sets up Django on a throw-away TAGSIGHT_DATA_DIR (the embedded profile), builds a COCO zip from the raccoon
manifest, imports it (preview, then the all-or-nothing write), then for each detection format exports the project
and imports the zip into a fresh project, and prints images/s for the preview, the import and the export.
"""

from __future__ import annotations

import argparse
import io
import json
import tempfile
import time
import zipfile

from _common import DATASETS, setup_django  # benchmarks/ is on sys.path when run as a script


def coco_zip(limit: int) -> bytes:
    root = DATASETS / "raccoon"
    manifest = json.loads((root / "manifest.json").read_text())
    doc: dict[str, list[dict[str, object]]] = {"images": [], "annotations": [],
                                                "categories": [{"id": 1, "name": "raccoon"}]}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for n, (path, info) in enumerate(sorted(manifest["images"].items())[:limit], start=1):
            w, h = info["width"], info["height"]
            doc["images"].append({"id": n, "file_name": path, "width": w, "height": h})
            zf.writestr(path, (root / path).read_bytes())
            for r in info["regions"]:
                doc["annotations"].append({"id": len(doc["annotations"]) + 1, "image_id": n, "category_id": 1,
                                           "bbox": [r["left"] * w, r["top"] * h, r["width"] * w, r["height"] * h]})
        zf.writestr("annotations.json", json.dumps(doc))
    return buf.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir:
        setup_django(data_dir)
        from django.contrib.auth import get_user_model

        from datasets.formats import services
        from projects.models import Project
        from workspaces.services import personal_workspace_ensure

        user = get_user_model().objects.create_user(username="bench")
        workspace = personal_workspace_ensure(user=user)

        def fresh(name: str) -> Project:
            return Project.objects.create(workspace=workspace, created_by=user, name=name,
                                          project_type=Project.ProjectType.DETECTION)

        def timed_import(project: Project, fmt: str, data: bytes) -> tuple[int, float, float]:
            start = time.perf_counter()
            plan = services.import_plan(project=project, format=fmt, source=io.BytesIO(data))
            planned = time.perf_counter()
            assert plan.ok, [str(p) for p in plan.problems.errors]
            result = services.import_apply(plan=plan)
            return result.images, planned - start, time.perf_counter() - planned

        data = coco_zip(args.images)
        source = fresh("raccoon")
        n, plan_s, write_s = timed_import(source, "coco", data)
        print(f"coco zip {len(data) / 2**20:.1f} MB, {n} images: preview {n / plan_s:.0f} images/s, "
              f"import {n / write_s:.1f} images/s")
        for fmt in ("coco", "yolo", "voc", "csv"):
            start = time.perf_counter()
            out = io.BytesIO()
            services.export_write(dataset=services.export_dataset(project=source), format=fmt, out=out)
            export_s = time.perf_counter() - start
            n, plan_s, write_s = timed_import(fresh(f"copy {fmt}"), fmt, out.getvalue())
            print(f"{fmt:5} export {n / export_s:.0f} images/s; re-import: preview {n / plan_s:.0f} images/s, "
                  f"import {n / write_s:.1f} images/s")


if __name__ == "__main__":
    main()
