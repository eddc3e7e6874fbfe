"""Archive test helpers: build an archive in memory, and rewrite one member (with or without a fresh checksum)."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Callable
from typing import Any


def archive_bytes(project: Any, *, iterations: bool = True) -> bytes:
    from datasets.archives.export import archive_chunks

    return b"".join(archive_chunks(project=project, include_iterations=iterations))


def members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def rewrite(data: bytes, change: Callable[[dict[str, bytes]], None], *, fix_checksums: bool = True) -> bytes:
    """The archive with ``change`` applied to its members; the manifest's checksums follow when ``fix_checksums``."""
    files = members(data)
    change(files)
    if fix_checksums and "manifest.json" in files:
        manifest = json.loads(files["manifest.json"])
        manifest["members"] = {n: hashlib.sha256(b).hexdigest() for n, b in files.items() if n != "manifest.json"}
        files["manifest.json"] = json.dumps(manifest).encode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for name, body in files.items():
            zf.writestr(name, body)
    return out.getvalue()


def edit_json(name: str, edit: Callable[[Any], None]) -> Callable[[dict[str, bytes]], None]:
    def change(files: dict[str, bytes]) -> None:
        content = json.loads(files[name])
        edit(content)
        files[name] = json.dumps(content).encode()

    return change
