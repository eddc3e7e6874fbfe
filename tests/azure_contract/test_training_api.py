"""Training API contract: status codes, camelCase shapes and Azure error codes for projects, tags and images."""

from __future__ import annotations

import base64
import uuid
from urllib.parse import quote

import pytest
from django.core.files.storage import default_storage

from tests.factories import DATASETS, make_big_png, make_image_bytes, make_tag

pytestmark = pytest.mark.django_db

HEMLOCK = DATASETS / "azure-quickstart" / "classification" / "Hemlock" / "hemlock_1.jpg"
PROJECT_KEYS = {
    "id",
    "name",
    "description",
    "settings",
    "created",
    "lastModified",
    "thumbnailUri",
    "drModeEnabled",
    "status",
}
IMAGE_KEYS = {
    "id",
    "created",
    "width",
    "height",
    "resizedImageUri",
    "thumbnailUri",
    "originalImageUri",
    "tags",
    "regions",
    "metadata",
}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _png(i: int) -> bytes:
    return make_image_bytes(color=(i % 256, (i // 256) % 256, 77))


def _upload(api, project, n=3, tag=None, start=0):  # type: ignore[no-untyped-def]
    images = [{"name": f"{i}.png", "contents": _b64(_png(i))} for i in range(start, start + n)]
    body = {"images": images, **({"tagIds": [str(tag.id)]} if tag else {})}
    response = api.post(f"/projects/{project.id}/images/files", json_body=body)
    assert response.status_code == 200, response.content[:300]
    return [r["image"]["id"] for r in response.json()["images"]]


# ---------------------------------------------------------------- domains


def test_domains_list_azure_ids_and_a_general_detection_domain_first(api):  # type: ignore[no-untyped-def]
    domains = api.get("/domains").json()
    assert {"id", "name", "type", "exportable", "enabled", "exportablePlatforms"} <= set(domains[0])
    assert domains[0]["id"] == "ee85a74c-405e-4adc-bb47-ffa8ca0c9f31"
    first_od = next(d for d in domains if d["type"] == "ObjectDetection")
    assert (first_od["name"], first_od["id"]) == ("General", "da2e3a8a-40a5-4171-82f4-58522f70fbc1")


def test_get_domain_and_unknown_domain(api):  # type: ignore[no-untyped-def]
    assert api.get("/domains/c151d5b5-dd07-472a-acc8-15d29dea8518").json()["name"] == "Food"
    assert api.get(f"/domains/{uuid.uuid4()}").json()["code"] == "NotFoundDomain"
    assert api.get("/domains/nope").status_code == 404


# ---------------------------------------------------------------- projects


def test_create_project_is_200_with_the_default_domain_and_an_empty_json_body(api, owner):  # type: ignore[no-untyped-def]
    response = api.post("/projects?name=Japanese%20Cherry&description=d", data=b"")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == PROJECT_KEYS
    assert body["name"] == "Japanese Cherry" and body["description"] == "d"
    assert body["settings"]["domainId"] == "ee85a74c-405e-4adc-bb47-ffa8ca0c9f31"
    assert body["settings"]["classificationType"] == "Multiclass"
    assert body["created"].endswith("Z")
    assert owner.personal_workspace.projects.get().name == "Japanese Cherry"  # the portal sees what the API made


def test_create_detection_project_and_multilabel(api):  # type: ignore[no-untyped-def]
    od = api.post("/projects?name=F&domainId=da2e3a8a-40a5-4171-82f4-58522f70fbc1").json()
    assert od["settings"]["domainId"] == "da2e3a8a-40a5-4171-82f4-58522f70fbc1"
    ml = api.post("/projects?name=M&classificationType=Multilabel", json_body={}).json()
    assert ml["settings"]["classificationType"] == "Multilabel"


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("", "BadRequestProjectName"),
        ("name=%20", "BadRequestProjectName"),
        (f"name=x&domainId={uuid.uuid4()}", "BadRequestProjectUnknownDomain"),
        ("name=x&domainId=garbage", "BadRequestProjectUnknownDomain"),
        ("name=x&classificationType=Sometimes", "BadRequestProjectUnknownClassification"),
        ("name=" + "x" * 300, "BadRequestProjectName"),
    ],
)
def test_create_project_rejects_bad_input_with_400(api, query, code):  # type: ignore[no-untyped-def]
    response = api.post(f"/projects?{query}")
    assert response.status_code == 400
    assert response.json()["code"] == code


def test_create_project_rejects_a_body_that_is_not_json(api):  # type: ignore[no-untyped-def]
    response = api.post("/projects?name=x", data=b"{nope")
    assert (response.status_code, response.json()["code"]) == (400, "BadRequest")


def test_get_projects_lists_only_mine(api, stranger_api, project):  # type: ignore[no-untyped-def]
    assert [p["id"] for p in api.get("/projects").json()] == [str(project.id)]
    assert stranger_api.get("/projects").json() == []


def test_update_project_read_modify_write(api, project):  # type: ignore[no-untyped-def]
    body = api.get(f"/projects/{project.id}").json()
    body["name"], body["description"] = "Renamed", "new"
    body["settings"]["classificationType"] = "Multilabel"
    response = api.patch(f"/projects/{project.id}", json_body=body)
    assert response.status_code == 200
    assert response.json()["name"] == "Renamed"
    project.refresh_from_db()
    assert (project.name, project.description, project.classification_type) == ("Renamed", "new", "Multilabel")


def test_update_project_rejects_empty_name_and_missing_body(api, project):  # type: ignore[no-untyped-def]
    assert api.patch(f"/projects/{project.id}", json_body={"name": ""}).json()["code"] == "BadRequestProjectName"
    assert api.patch(f"/projects/{project.id}").status_code == 400


def test_delete_project_is_204(api, project, owner):  # type: ignore[no-untyped-def]
    response = api.delete(f"/projects/{project.id}")
    assert response.status_code == 204 and response.content == b""
    assert not owner.personal_workspace.projects.exists()
    assert api.get(f"/projects/{project.id}").json()["code"] == "NotFoundProject"


def test_export_then_import_copies_tags_images_and_regions(api, stranger_api, od_project, owner, stranger):  # type: ignore[no-untyped-def]
    tag = make_tag(od_project, "fork")
    region = {"tagId": str(tag.id), "left": 0.1, "top": 0.2, "width": 0.3, "height": 0.4}
    body = {
        "images": [
            {"name": "f1", "contents": _b64(_png(1)), "regions": [region]},
            {"name": "f2", "contents": _b64(_png(2))},
        ]
    }
    api.post(f"/projects/{od_project.id}/images/files", json_body=body)
    export = api.get(f"/projects/{od_project.id}/export").json()
    assert {k: export[k] for k in ("iterationCount", "imageCount", "tagCount", "regionCount")} == {
        "iterationCount": 0,
        "imageCount": 2,
        "tagCount": 1,
        "regionCount": 1,
    }
    # The token works for another account too (as Azure's does), and makes an independent copy.
    response = stranger_api.post(f"/projects/import?token={export['token']}&name=Copy")
    assert response.status_code == 200, response.content
    copy = stranger.personal_workspace.projects.get()
    assert response.json()["id"] == str(copy.id) and copy.name == "Copy" and copy.is_detection
    assert copy.images.count() == 2 and copy.tags.get().name == "fork"
    assert [(r.left, r.top, r.width, r.height) for i in copy.images.all() for r in i.regions.all()] == [
        (0.1, 0.2, 0.3, 0.4)
    ]


def test_import_rejects_a_bad_token(api, project):  # type: ignore[no-untyped-def]
    for query in ("", "token=abc", "token=" + "x" * 40):
        response = api.post(f"/projects/import?{query}")
        assert (response.status_code, response.json()["code"]) == (400, "BadRequestInvalidImportToken")


# ---------------------------------------------------------------- tags


def test_create_tag_is_200_and_get_tags_counts_images(api, project):  # type: ignore[no-untyped-def]
    response = api.post(f"/projects/{project.id}/tags?name=Hemlock&description=tree")
    assert response.status_code == 200
    tag = response.json()
    assert tag == {"id": tag["id"], "name": "Hemlock", "description": "tree", "type": "Regular", "imageCount": 0}
    _upload(api, project, n=2, tag=project.tags.get())
    assert api.get(f"/projects/{project.id}/tags").json()[0]["imageCount"] == 2
    assert api.get(f"/projects/{project.id}/tags/{tag['id']}").json()["imageCount"] == 2


def test_create_negative_tag_and_duplicate_name(api, project):  # type: ignore[no-untyped-def]
    assert api.post(f"/projects/{project.id}/tags?name=Neg&type=Negative").json()["type"] == "Negative"
    api.post(f"/projects/{project.id}/tags?name=Oak")
    response = api.post(f"/projects/{project.id}/tags?name=oak")
    assert (response.status_code, response.json()["code"]) == (400, "BadRequestTagNameNotUnique")


@pytest.mark.parametrize(("query", "code"), [("", "BadRequestTagName"), ("name=x&type=Weird", "BadRequest")])
def test_create_tag_rejects_bad_input(api, project, query, code):  # type: ignore[no-untyped-def]
    response = api.post(f"/projects/{project.id}/tags?{query}")
    assert (response.status_code, response.json()["code"]) == (400, code)


def test_update_and_delete_tag(api, project):  # type: ignore[no-untyped-def]
    tag = make_tag(project, "Oak")
    body = api.get(f"/projects/{project.id}/tags/{tag.id}").json()
    body["name"] = "Elm"
    response = api.patch(f"/projects/{project.id}/tags/{tag.id}", json_body=body)
    assert (response.status_code, response.json()["name"]) == (200, "Elm")
    assert api.delete(f"/projects/{project.id}/tags/{tag.id}").status_code == 204
    assert api.get(f"/projects/{project.id}/tags/{tag.id}").json()["code"] == "NotFoundTag"


def test_a_tag_of_another_project_is_not_found(api, owner, project):  # type: ignore[no-untyped-def]
    from tests.factories import make_project

    other = make_tag(make_project(owner, name="Other"), "Oak")
    assert api.get(f"/projects/{project.id}/tags/{other.id}").status_code == 404
    assert api.delete(f"/projects/{project.id}/tags/{other.id}").status_code == 404


# ---------------------------------------------------------------- uploads


def test_create_images_from_files_keeps_bytes_tags_and_shape(api, project):  # type: ignore[no-untyped-def]
    tag = make_tag(project, "Hemlock")
    data = HEMLOCK.read_bytes()
    body = {"images": [{"name": "hemlock_1.jpg", "contents": _b64(data), "tagIds": [str(tag.id)]}]}
    response = api.post(f"/projects/{project.id}/images/files", json_body=body)
    assert response.status_code == 200
    summary = response.json()
    assert summary["isBatchSuccessful"] is True
    (result,) = summary["images"]
    assert result["status"] == "OK" and result["sourceUrl"] is None
    assert set(result["image"]) == IMAGE_KEYS
    assert (result["image"]["width"], result["image"]["height"]) == (180, 320)
    assert [t["tagName"] for t in result["image"]["tags"]] == ["Hemlock"]
    image = project.images.get()
    with default_storage.open(image.file.name, "rb") as fh:
        assert fh.read() == data  # byte-exact original


def test_a_10000_px_square_png_is_taken_as_the_upload_page_promises(api, project):  # type: ignore[no-untyped-def]
    """Sides up to 10,240 px (the page says so): Pillow's decompression-bomb guard must not refuse 10^8 pixels."""
    data = make_big_png(10_000, 10_000)  # ~120 KB on the wire
    body = {"images": [{"name": "big.png", "contents": _b64(data)}]}
    response = api.post(f"/projects/{project.id}/images/files", json_body=body)
    assert response.status_code == 200, response.content[:300]
    (result,) = response.json()["images"]
    assert result["status"] == "OK" and (result["image"]["width"], result["image"]["height"]) == (10_000, 10_000)
    assert project.images.get().thumbnail


def test_create_images_from_files_duplicates_and_bad_images_are_207(api, project):  # type: ignore[no-untyped-def]
    _upload(api, project, n=1)
    body = {
        "images": [
            {"name": "dup", "contents": _b64(_png(0))},
            {"name": "new", "contents": _b64(_png(1))},
            {"name": "junk", "contents": _b64(b"not an image")},
            {"name": "nob64", "contents": "!!!"},
        ]
    }
    response = api.post(f"/projects/{project.id}/images/files", json_body=body)
    assert response.status_code == 207
    summary = response.json()
    assert summary["isBatchSuccessful"] is False
    assert [r["status"] for r in summary["images"]] == ["OKDuplicate", "OK", "ErrorImageFormat", "ErrorImageFormat"]
    assert summary["images"][0]["image"]["id"]
    assert project.images.count() == 2


def test_create_images_from_files_with_regions_echoes_them(api, od_project):  # type: ignore[no-untyped-def]
    tag = make_tag(od_project, "fork")
    region = {"tagId": str(tag.id), "left": 0.1, "top": 0.2, "width": 0.3, "height": 0.4}
    body = {"images": [{"name": "fork_1", "contents": _b64(_png(5)), "regions": [region]}]}
    response = api.post(f"/projects/{od_project.id}/images/files", json_body=body)
    assert response.status_code == 200, response.content
    (r,) = response.json()["images"][0]["image"]["regions"]
    assert {k: r[k] for k in region} == region
    assert r["regionId"] and r["tagName"] == "fork" and r["created"].endswith("Z")


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"images": []}, "BadRequestImageBatch"),
        ({"images": [{"contents": "aGk="}] * 65}, "BadRequestImageBatch"),
        ({"images": [{"contents": "aGk=", "tagIds": ["nope"]}]}, "BadRequestInvalidIds"),
        ({"images": [{"contents": "aGk="}], "tagIds": [str(uuid.uuid4())]}, "BadRequestInvalidIds"),
        ({"images": [{"contents": "aGk=", "regions": [{"tagId": str(uuid.uuid4())}]}]}, "BadRequestImageRegions"),
        ({"images": "x"}, "BadRequestImageBatch"),
        ([1, 2], "BadRequest"),
    ],
)
def test_create_images_from_files_rejects_bad_batches_whole(api, project, body, code):  # type: ignore[no-untyped-def]
    response = api.post(f"/projects/{project.id}/images/files", json_body=body)
    assert (response.status_code, response.json()["code"]) == (400, code)
    assert not project.images.exists()


def test_create_images_from_files_empty_body_is_400(api, project):  # type: ignore[no-untyped-def]
    assert api.post(f"/projects/{project.id}/images/files", data=b"").status_code == 400


def test_create_images_from_files_accepts_escaped_slashes_and_batch_tag_ids(api, project):  # type: ignore[no-untyped-def]
    tag = make_tag(project, "Oak")
    raw = _b64(HEMLOCK.read_bytes()).replace("/", "\\/")  # some JSON encoders escape '/'
    payload = ('{"tagIds": ["' + str(tag.id) + '"], "images": [{"name": "h", "contents": "' + raw + '"}]}').encode()
    response = api.post(f"/projects/{project.id}/images/files", data=payload)
    assert response.status_code == 200, response.content[:300]
    assert response.json()["images"][0]["image"]["tags"][0]["tagId"] == str(tag.id)


def _multipart(parts: list[tuple[str, bytes, str | None, str | None]], boundary: str = "b0undary") -> bytes:
    out = b""
    for name, data, filename, ctype in parts:
        out += f"--{boundary}\r\n".encode()
        disp = f'Content-Disposition: form-data; name="{name}"'
        if filename:
            disp += f'; filename="{filename}"'
        out += disp.encode() + b"\r\n"
        if ctype:
            out += f"Content-Type: {ctype}\r\n".encode()
        out += b"\r\n" + data + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


def test_create_images_from_data_multipart_without_filename_keeps_jpeg_bytes(api, project):  # type: ignore[no-untyped-def]
    """The Python SDK's part: name="imageData", no filename, no Content-Type. Django would decode it as text."""
    tag = make_tag(project, "Hemlock")
    data = HEMLOCK.read_bytes()
    body = _multipart([("imageData", data, None, None)])
    response = api.post(
        f"/projects/{project.id}/images?tagIds={tag.id}",
        data=body,
        content_type="multipart/form-data; boundary=b0undary",
    )
    assert response.status_code == 200, response.content[:300]
    assert response.json()["images"][0]["image"]["tags"][0]["tagName"] == "Hemlock"
    with default_storage.open(project.images.get().file.name, "rb") as fh:
        assert fh.read() == data


def test_create_images_from_data_several_parts_with_and_without_filenames(api, project):  # type: ignore[no-untyped-def]
    body = _multipart(
        [
            ("imageData", _png(1), None, "application/octet-stream"),
            ("imageData", _png(2), "b.png", "image/png"),
            ("imageData", _png(1), "dup.png", None),
        ]
    )
    response = api.post(
        f"/projects/{project.id}/images", data=body, content_type='multipart/form-data; boundary="b0undary"'
    )
    assert response.status_code == 207
    assert [r["status"] for r in response.json()["images"]] == ["OK", "OK", "OKDuplicate"]


def test_create_images_from_data_raw_octet_stream(api, project):  # type: ignore[no-untyped-def]
    data = HEMLOCK.read_bytes()
    response = api.post(f"/projects/{project.id}/images", data=data, content_type="application/octet-stream")
    assert response.status_code == 200
    with default_storage.open(project.images.get().file.name, "rb") as fh:
        assert fh.read() == data


@pytest.mark.parametrize(
    ("body", "ctype", "code"),
    [
        (b"", "application/octet-stream", "BadRequestImageBatch"),
        (
            b'--x\r\nContent-Disposition: form-data; name="other"\r\n\r\nhi\r\n--x--\r\n',
            "multipart/form-data; boundary=x",
            "BadRequestImageBatch",
        ),
        (b"garbage", "multipart/form-data; boundary=x", "BadRequestImageBatch"),
        (b"garbage", "multipart/form-data", "BadRequestImageBatch"),
    ],
)
def test_create_images_from_data_rejects_empty_or_broken_bodies(api, project, body, ctype, code):  # type: ignore[no-untyped-def]
    response = api.post(f"/projects/{project.id}/images", data=body, content_type=ctype)
    assert (response.status_code, response.json()["code"]) == (400, code)


def test_create_images_from_data_bad_tag_ids(api, project):  # type: ignore[no-untyped-def]
    response = api.post(
        f"/projects/{project.id}/images?tagIds=xyz", data=_png(1), content_type="application/octet-stream"
    )
    assert response.json()["code"] == "BadRequestInvalidIds"


def test_create_images_from_urls_refuses_private_addresses(api, project):  # type: ignore[no-untyped-def]
    urls = [
        "http://127.0.0.1/a.jpg",
        "http://169.254.169.254/latest/meta-data",
        "http://10.0.0.1/x.png",
        "ftp://example.com/x.jpg",
    ]
    response = api.post(f"/projects/{project.id}/images/urls", json_body={"images": [{"url": u} for u in urls]})
    assert response.status_code == 207
    results = response.json()["images"]
    assert [r["status"] for r in results] == ["ErrorSource"] * 4
    assert [r["sourceUrl"] for r in results] == urls
    assert not project.images.exists()


@pytest.fixture
def image_server():  # type: ignore[no-untyped-def]
    """A tiny local HTTP server: /hemlock.jpg (image/jpeg), /page (text/html), /big.jpg (7 MB)."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    files = {
        "/hemlock.jpg": (HEMLOCK.read_bytes(), "image/jpeg"),
        "/page": (b"<html></html>", "text/html"),
        "/big.jpg": (b"\xff" * (7 * 1024 * 1024), "image/jpeg"),
    }

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # type: ignore[no-untyped-def]  # noqa: N802
            if self.path == "/redirect":
                self.send_response(302)
                self.send_header("Location", "/hemlock.jpg")
                self.end_headers()
                return
            data, ctype = files.get(self.path, (b"", ""))
            self.send_response(200 if data else 404)
            self.send_header("Content-Type", ctype or "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):  # type: ignore[no-untyped-def]
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.handle_error = lambda *args: None  # type: ignore[method-assign]  # the fetcher hangs up on big.jpg
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_create_images_from_urls_fetches_when_private_urls_are_allowed(api, project, settings, image_server):  # type: ignore[no-untyped-def]
    settings.TAGSIGHT_ALLOW_PRIVATE_URLS = True
    tag = make_tag(project, "Hemlock")
    urls = [
        f"{image_server}/hemlock.jpg",
        f"{image_server}/page",
        f"{image_server}/big.jpg",
        f"{image_server}/missing.jpg",
        f"{image_server}/redirect",
    ]
    response = api.post(
        f"/projects/{project.id}/images/urls", json_body={"images": [{"url": u} for u in urls], "tagIds": [str(tag.id)]}
    )
    assert response.status_code == 207
    results = response.json()["images"]
    assert [r["status"] for r in results] == ["OK", "ErrorImageFormat", "ErrorImageSize", "ErrorSource", "OKDuplicate"]
    assert results[0]["sourceUrl"] == urls[0]
    assert results[0]["image"]["tags"][0]["tagName"] == "Hemlock"
    with default_storage.open(project.images.get().file.name, "rb") as fh:
        assert fh.read() == HEMLOCK.read_bytes()


def test_private_urls_are_refused_by_default_even_when_served(api, project, image_server):  # type: ignore[no-untyped-def]
    response = api.post(
        f"/projects/{project.id}/images/urls", json_body={"images": [{"url": f"{image_server}/hemlock.jpg"}]}
    )
    assert response.json()["images"][0]["status"] == "ErrorSource"


def test_create_images_from_urls_rejects_bad_bodies(api, project):  # type: ignore[no-untyped-def]
    assert api.post(f"/projects/{project.id}/images/urls", json_body={"images": [{}]}).status_code == 400
    assert api.post(f"/projects/{project.id}/images/urls").status_code == 400


# ---------------------------------------------------------------- lists, counts, by ids


def test_lists_and_counts_are_bare_and_filtered(api, project):  # type: ignore[no-untyped-def]
    oak, elm = make_tag(project, "Oak"), make_tag(project, "Elm")
    _upload(api, project, n=3, tag=oak)
    _upload(api, project, n=2, tag=elm, start=10)
    _upload(api, project, n=4, start=20)
    base = f"/projects/{project.id}/images"
    assert api.get(f"{base}/count").content == b"9"
    assert api.get(f"{base}/tagged/count").json() == 5
    assert api.get(f"{base}/untagged/count").json() == 4
    assert api.get(f"{base}/tagged/count?tagIds={oak.id}").json() == 3
    assert api.get(f"{base}/tagged/count?tagIds={oak.id},{elm.id}").json() == 5
    assert api.get(f"{base}/count?taggingStatus=Untagged").json() == 4
    assert len(api.get(f"{base}/tagged?take=50&skip=0").json()) == 5
    assert len(api.get(f"{base}/untagged?take=3&skip=0").json()) == 3
    assert len(api.get(f"{base}?take=50&skip=8").json()) == 1
    newest = api.get(f"{base}?take=1").json()[0]["created"]
    oldest = api.get(f"{base}?take=1&orderBy=Oldest").json()[0]["created"]
    assert oldest <= newest


@pytest.mark.parametrize(
    "query",
    [
        "take=257",
        "take=-1",
        "skip=x",
        "taggingStatus=Maybe",
        "orderBy=Random",
        "tagIds=bad",
        f"iterationId={uuid.uuid4()}",
    ],
)
def test_list_rejects_bad_query_with_4xx(api, project, query):  # type: ignore[no-untyped-def]
    response = api.get(f"/projects/{project.id}/images?{query}")
    assert response.status_code in (400, 404)
    assert response.json()["code"]


def test_get_images_by_ids_in_order_and_skips_unknown(api, project):  # type: ignore[no-untyped-def]
    ids = _upload(api, project, n=3)
    query = ",".join([ids[2], str(uuid.uuid4()), ids[0]])
    assert [i["id"] for i in api.get(f"/projects/{project.id}/images/id?imageIds={query}").json()] == [ids[2], ids[0]]


def test_delete_images_is_204_and_all_images(api, project):  # type: ignore[no-untyped-def]
    ids = _upload(api, project, n=3)
    assert api.delete(f"/projects/{project.id}/images?imageIds={ids[0]}").status_code == 204
    assert project.images.count() == 2
    assert api.delete(f"/projects/{project.id}/images?allImages=true").status_code == 204
    assert not project.images.exists()
    assert api.delete(f"/projects/{project.id}/images").status_code == 400


def test_create_and_delete_image_tags(api, project):  # type: ignore[no-untyped-def]
    ids = _upload(api, project, n=2)
    oak = make_tag(project, "Oak")
    entries = [{"imageId": i, "tagId": str(oak.id)} for i in ids]
    response = api.post(f"/projects/{project.id}/images/tags", json_body={"tags": entries})
    assert response.status_code == 200
    assert response.json() == {"created": entries, "duplicated": [], "exceeded": []}
    again = api.post(f"/projects/{project.id}/images/tags", json_body={"tags": entries[:1]}).json()
    assert again["duplicated"] == entries[:1]
    assert api.get(f"/projects/{project.id}/images/tagged/count").json() == 2
    response = api.delete(f"/projects/{project.id}/images/tags?imageIds={ids[0]}&tagIds={oak.id}")
    assert response.status_code == 204
    assert api.get(f"/projects/{project.id}/images/tagged/count").json() == 1


def test_create_image_tags_rejects_unknown_ids(api, project):  # type: ignore[no-untyped-def]
    oak = make_tag(project, "Oak")
    body = {"tags": [{"imageId": str(uuid.uuid4()), "tagId": str(oak.id)}]}
    assert api.post(f"/projects/{project.id}/images/tags", json_body=body).json()["code"] == "BadRequestInvalidIds"


def test_update_image_metadata_merges_pairs_and_images_echo_them(api, project):  # type: ignore[no-untyped-def]
    api.post(f"/projects/{project.id}/images", data=HEMLOCK.read_bytes(), content_type="application/octet-stream")
    (image,) = api.get(f"/projects/{project.id}/images").json()
    url = f"/projects/{project.id}/images/metadata?imageIds={image['id']}"
    assert api.post(url, json_body={"camera": "north"}).status_code == 200
    response = api.post(url, json_body={"site": "A7"})
    assert response.status_code == 200
    assert response.json() == {
        "isBatchSuccessful": True,
        "images": [{"imageId": image["id"], "status": "OK", "metadata": {"camera": "north", "site": "A7"}}],
    }
    (image,) = api.get(f"/projects/{project.id}/images").json()
    assert image["metadata"] == {"camera": "north", "site": "A7"}


def test_update_image_metadata_reports_unknown_images_and_the_pair_limit_with_207(api, project):  # type: ignore[no-untyped-def]
    api.post(f"/projects/{project.id}/images", data=HEMLOCK.read_bytes(), content_type="application/octet-stream")
    (image,) = api.get(f"/projects/{project.id}/images").json()
    ghost = str(uuid.uuid4())
    response = api.post(f"/projects/{project.id}/images/metadata?imageIds={image['id']},{ghost}",
                        json_body={"k": "v"})
    assert response.status_code == 207
    assert [(r["imageId"], r["status"]) for r in response.json()["images"]] == [
        (image["id"], "OK"), (ghost, "ErrorImageNotFound")]
    eleven = {f"key{i}": "v" for i in range(11)}
    response = api.post(f"/projects/{project.id}/images/metadata?imageIds={image['id']}", json_body=eleven)
    assert response.status_code == 207
    assert response.json()["images"][0] == {
        "imageId": image["id"],
        "status": "ErrorLimitExceed",
        "metadata": {"k": "v"},
    }


def test_update_image_metadata_rejects_bad_pairs_without_writing(api, project):  # type: ignore[no-untyped-def]
    api.post(f"/projects/{project.id}/images", data=HEMLOCK.read_bytes(), content_type="application/octet-stream")
    (image,) = api.get(f"/projects/{project.id}/images").json()
    url = f"/projects/{project.id}/images/metadata?imageIds={image['id']}"
    for body in ({"k": 1}, {"k" * 129: "v"}, {"k": "v" * 257}, ["k", "v"]):
        response = api.post(url, json_body=body)
        assert response.status_code == 400, body
        assert response.json()["code"] in ("BadRequestImageMetadataKey", "BadRequest")
    assert api.get(f"/projects/{project.id}/images").json()[0]["metadata"] == {}


def test_image_uris_are_signed_links_that_work_without_a_key(api, project, client):  # type: ignore[no-untyped-def]
    data = HEMLOCK.read_bytes()
    api.post(f"/projects/{project.id}/images", data=data, content_type="application/octet-stream")
    (image,) = api.get(f"/projects/{project.id}/images").json()
    original = client.get(image["originalImageUri"].replace("http://testserver", ""))
    assert original.status_code == 200 and b"".join(original.streaming_content) == data
    thumb = client.get(image["thumbnailUri"].replace("http://testserver", ""))
    assert thumb.status_code == 200 and thumb["Content-Type"] == "image/jpeg"
    assert client.get(image["resizedImageUri"].replace("http://testserver", "")).status_code == 200
    tampered = image["originalImageUri"].replace("http://testserver", "")[:-3] + "abc"
    assert client.get(tampered).status_code == 404
    assert client.get("/customvision/media/nonsense").json()["code"] == "NotFound"


# ---------------------------------------------------------------- metadata on create, $filter on metadata


def test_create_batches_store_their_metadata(api, project, settings, image_server):  # type: ignore[no-untyped-def]
    """ImageFileCreateBatch / ImageUrlCreateBatch ``metadata`` (v3.3+) is stored on every image of the batch."""
    body = {"images": [{"name": f"{i}.png", "contents": _b64(_png(i))} for i in range(2)],
            "metadata": {"camera": "north", "site": "A7"}}
    response = api.post(f"/projects/{project.id}/images/files", json_body=body)
    assert response.status_code == 200, response.content
    assert [r["image"]["metadata"] for r in response.json()["images"]] == [{"camera": "north", "site": "A7"}] * 2
    settings.TAGSIGHT_ALLOW_PRIVATE_URLS = True
    body = {"images": [{"url": f"{image_server}/hemlock.jpg"}], "metadata": {"source": "web"}}
    response = api.post(f"/projects/{project.id}/images/urls", json_body=body)
    assert response.status_code == 200, response.content
    assert sorted(i["metadata"].get("source", i["metadata"].get("camera")) for i in api.get(
        f"/projects/{project.id}/images").json()) == ["north", "north", "web"]


@pytest.mark.parametrize(
    "metadata",
    [{f"k{i}": "v" for i in range(11)}, {"k" * 129: "v"}, {"k": "v" * 257}, {"k": 1}, ["k", "v"]],
)
def test_create_batch_metadata_beyond_azures_limits_is_refused_before_writing(api, project, metadata):  # type: ignore[no-untyped-def]
    body = {"images": [{"name": "1.png", "contents": _b64(_png(1))}], "metadata": metadata}
    response = api.post(f"/projects/{project.id}/images/files", json_body=body)
    assert response.status_code == 400 and response.json()["code"] == "BadRequestImageMetadataKey"
    assert not project.images.exists()


@pytest.fixture
def described(api, project):  # type: ignore[no-untyped-def]
    """Four images: north/A7, north/B2, south/A7 (tagged Oak), and one without metadata."""
    oak = make_tag(project, "Oak")
    ids = _upload(api, project, n=4)
    pairs = [{"camera": "north", "site": "A7"}, {"camera": "north", "site": "B2"}, {"camera": "south", "site": "A7"}]
    for image_id, pair in zip(ids[:3], pairs, strict=True):  # ids[3] keeps no metadata
        url = f"/projects/{project.id}/images/metadata?imageIds={image_id}"
        assert api.post(url, json_body=pair).status_code == 200
    api.post(f"/projects/{project.id}/images/tags", json_body={"tags": [{"imageId": ids[2], "tagId": str(oak.id)}]})
    return project, ids, oak


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("camera eq 'north'", {0, 1}),
        ("metadata/camera eq 'north'", {0, 1}),
        ("camera ne 'north'", {2, 3}),  # an image without the key is "not equal"
        ("camera eq 'north' and site eq 'A7'", {0}),
        ("camera EQ 'south' OR site eq 'B2'", {1, 2}),
        ("site eq 'A7' and (camera eq 'south' or camera eq 'east')", {2}),
        ("site eq 'A7' and camera eq 'south' or camera eq 'north'", {0, 1, 2}),  # and binds tighter
        ("camera eq 'North'", set()),
        ("lens eq 'x'", set()),
        ("  ", {0, 1, 2, 3}),
    ],
)
def test_get_images_filters_on_metadata(api, described, expression, expected):  # type: ignore[no-untyped-def]
    project, ids, _ = described
    q = f"$filter={quote(expression)}"
    listed = {ids.index(i["id"]) for i in api.get(f"/projects/{project.id}/images?{q}").json()}
    assert listed == expected
    assert api.get(f"/projects/{project.id}/images/count?{q}").json() == len(expected)


def test_metadata_filter_combines_with_tags_and_quoted_quotes(api, described, owner):  # type: ignore[no-untyped-def]
    from projects.services import images_metadata_update

    project, ids, oak = described
    base = f"/projects/{project.id}/images"
    q = f"$filter={quote('site eq ' + repr('A7'))}"
    assert [i["id"] for i in api.get(f"{base}/tagged?{q}").json()] == [ids[2]]
    assert api.get(f"{base}/untagged/count?{q}").json() == 1
    assert api.get(f"{base}/count?taggingStatus=Tagged&tagIds={oak.id}&{q}").json() == 1
    images_metadata_update(project=project, image_ids=[ids[3]], metadata={"owner": "O'Brien"})
    quoted = quote("owner eq 'O''Brien'")
    assert [i["id"] for i in api.get(f"{base}?$filter={quoted}").json()] == [ids[3]]


@pytest.mark.parametrize(
    "expression",
    [
        "camera gt 'north'",
        "camera eq north",
        "camera eq 'north' and",
        "(camera eq 'north'",
        "camera eq 'north')",
        "contains(camera,'nor')",
        "not camera eq 'north'",
        "camera eq 'north",
        "eq 'north'",
        "camera eq 'a' " + "and camera eq 'a' " * 70,
        'a"b eq \'x\'',
        "camera eq 'nul\x00'",
    ],
)
def test_metadata_filter_outside_the_subset_is_a_clear_400(api, project, expression):  # type: ignore[no-untyped-def]
    for path in ("images", "images/count", "images/tagged", "images/untagged/count"):
        response = api.get(f"/projects/{project.id}/{path}?$filter={quote(expression)}")
        assert response.status_code == 400, (path, expression)
        body = response.json()
        assert body["code"] == "BadRequest" and body["message"].startswith("$filter: ") and "eq" in body["message"]
