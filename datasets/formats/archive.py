"""Reading and writing dataset zips: safe names, image look-up by path, displayed image sizes (no Django here).

Nothing is extracted to disk: members are read into memory, so a ``../`` name can do no harm, and the declared
sizes are checked before anything is read (a zip bomb is refused from its directory).
"""

from __future__ import annotations

import io
import posixpath
import unicodedata
import zipfile
from collections.abc import Iterable, Iterator
from typing import IO

from PIL import Image as PILImage

from datasets.formats.dataset import FormatError, Item, Problems
from projects.images import ImageRejected, read_header

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")
MAX_MEMBERS = 100_000
MAX_ARCHIVE_BYTES = 1 << 30  # 1 GiB uncompressed: an import is read in memory
_JUNK = ("__MACOSX/", ".DS_Store", "Thumbs.db", "desktop.ini")


def _fix_name(info: zipfile.ZipInfo) -> str:
    """The member's name as its author wrote it: zips without the UTF-8 flag are decoded as cp437 by zipfile,
    but most tools (Windows' Explorer excepted) wrote UTF-8 bytes, so "café.jpg" would read "cafÃ©.jpg"."""
    name = info.filename
    if not info.flag_bits & 0x800:
        try:
            name = name.encode("cp437").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            pass
    name = unicodedata.normalize("NFC", name.replace("\\", "/"))
    return posixpath.normpath(name).lstrip("/") if name.strip("/") else ""


class Archive:
    """The files of an uploaded zip by normalised path ("a/b.jpg"), with lookups the formats share."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self._lower: dict[str, list[str]] = {}
        self._basename: dict[str, list[str]] = {}
        for path in files:
            self._lower.setdefault(path.lower(), []).append(path)
            self._basename.setdefault(posixpath.basename(path).lower(), []).append(path)

    @classmethod
    def read(cls, source: str | IO[bytes]) -> Archive:
        try:
            with zipfile.ZipFile(source) as zf:
                infos = [i for i in zf.infolist() if not i.is_dir()]
                if len(infos) > MAX_MEMBERS:
                    raise FormatError(f"The zip holds {len(infos):,} files; at most {MAX_MEMBERS:,} are read.")
                total = sum(i.file_size for i in infos)
                if total > MAX_ARCHIVE_BYTES:
                    raise FormatError(
                        f"The zip unpacks to {total / 2**20:,.0f} MB; at most {MAX_ARCHIVE_BYTES / 2**20:,.0f} MB "
                        "are read. Split it into several imports."
                    )
                files: dict[str, bytes] = {}
                for info in infos:
                    name = _fix_name(info)
                    if not name or name.startswith("../") or any(j in name for j in _JUNK):
                        continue
                    files[name] = zf.read(info)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError, NotImplementedError) as exc:
            raise FormatError("The file is not a readable zip archive.") from exc
        return cls(files)

    def paths(self, *, under: str = "", suffixes: Iterable[str] = ()) -> list[str]:
        ends = tuple(s.lower() for s in suffixes)
        prefix = f"{under.strip('/')}/" if under.strip("/") else ""
        return sorted(p for p in self.files if p.startswith(prefix) and (not ends or p.lower().endswith(ends)))

    def images(self, *, under: str = "") -> list[str]:
        return self.paths(under=under, suffixes=IMAGE_EXTENSIONS)

    def find(self, ref: str, *, bases: Iterable[str] = ("",)) -> str | None:
        """The archive path an annotation's file reference means: relative to each base folder, then ignoring case,
        then by its file name alone when only one file has it."""
        ref = unicodedata.normalize("NFC", ref.replace("\\", "/")).strip()
        if not ref:
            return None
        for base in bases:
            path = posixpath.normpath(posixpath.join(base, ref)).lstrip("/")
            if path in self.files:
                return path
            same = self._lower.get(path.lower(), [])
            if len(same) == 1:
                return same[0]
        by_name = self._basename.get(posixpath.basename(ref).lower(), [])
        return by_name[0] if len(by_name) == 1 else None

    def text(self, path: str, problems: Problems) -> str | None:
        try:
            return self.files[path].decode("utf-8-sig")
        except UnicodeDecodeError:
            problems.error(path, "is not UTF-8 text.")
            return None


def common_root(paths: Iterable[str]) -> str:
    """The one folder every path lies in ("dataset/" of "dataset/a/x.jpg", "dataset/b/y.jpg"), or ""."""
    roots = {p.split("/", 1)[0] if "/" in p else "" for p in paths}
    return roots.pop() if len(roots) == 1 else ""


def item_for(archive: Archive, path: str, problems: Problems) -> Item | None:
    """An image of the archive as an Item with its displayed size (EXIF orientation applied), or None (a line in
    ``problems``) when it is not an image our upload would take."""
    from django.conf import settings

    data = archive.files[path]
    try:
        header = read_header(data, max_side=settings.TAGSIGHT_MAX_IMAGE_SIDE,
                             max_bytes=settings.TAGSIGHT_MAX_IMAGE_BYTES)
    except ImageRejected as exc:
        problems.error(path, exc.message)
        return None
    if not _decodes(data):
        problems.error(path, "is truncated or corrupt: its pixels cannot be read.")
        return None
    return Item(name=path, data=data, width=header.width, height=header.height, orientation=header.orientation)


def _decodes(data: bytes) -> bool:
    """Whether the whole image decodes (what the upload will do), so a truncated file is a preview line rather than
    a failed import. A JPEG is decoded at its smallest DCT scale: it still reads the whole entropy stream, fast."""
    try:
        with PILImage.open(io.BytesIO(data)) as img:
            img.draft("RGB", (64, 64))
            img.load()
    except Exception:  # any decoder error means the upload would refuse it
        return False
    return True


class Writer:
    """A zip being written: unique, safe member names for images (two "img.jpg" become "img.jpg", "img_2.jpg")."""

    def __init__(self, out: IO[bytes]) -> None:
        self.zip = zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED)
        self._used: set[str] = set()

    def unique(self, folder: str, name: str) -> str:
        """A name for an image in ``folder`` that no other image there has, extension aside (label and XML files
        are named after the image's stem, so "a.jpg" and "a.png" must not both be "a")."""
        stem, ext = posixpath.splitext(safe_name(name))
        candidate, n = stem, 1
        while f"{folder}/{candidate}".lower() in self._used:
            n += 1
            candidate = f"{stem}_{n}"
        self._used.add(f"{folder}/{candidate}".lower())
        return f"{candidate}{ext}"

    def add(self, path: str, data: bytes | str) -> None:
        info = zipfile.ZipInfo(path, date_time=(2020, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_STORED if path.lower().endswith(IMAGE_EXTENSIONS) else zipfile.ZIP_DEFLATED
        info.external_attr = 0o644 << 16
        self.zip.writestr(info, data.encode() if isinstance(data, str) else data)

    def close(self) -> None:
        self.zip.close()


def safe_name(name: str) -> str:
    """A file or folder name that is safe in any zip and file system: no slashes, no control characters."""
    name = posixpath.basename(name.replace("\\", "/"))
    name = "".join(c if c.isprintable() and c not in '<>:"|?*' else "_" for c in name).strip(" .")
    return name or "_"


def iter_lines(text: str) -> Iterator[tuple[int, str]]:
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            yield number, line
