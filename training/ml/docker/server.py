"""Tagsight's exported prediction container: Azure Custom Vision's exported-container contract on the Python
standard library's HTTP server, predicting with predict.py (onnxruntime, Pillow, numpy) beside it.

    python server.py [--host 0.0.0.0] [--port 80]

    POST /image   the image as the raw body, or multipart/form-data with the file in the field "imageData"
    POST /url     JSON {"url": "https://..."}: the image is fetched from there
answers {"created", "id", "iteration", "project", "predictions": [{"tagId", "tagName", "probability",
"boundingBox"}]} as Azure's exported containers do (boundingBox {left, top, width, height} as fractions of the
image for object detection, null for classification; most probable first).
"""

from __future__ import annotations

import argparse
import email.parser
import email.policy
import json
import sys
import urllib.request
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import predict  # noqa: E402  (the export's standalone predictor, beside this file)

MAX_BYTES = 6 * 1024 * 1024  # Azure's containers take images up to about this size
MODEL = predict.Model()
TAG_IDS = {name: i for i, name in enumerate(predict.LABELS)}


def multipart_image(content_type, body):
    """The "imageData" part of a multipart/form-data body (else the first file part), or None."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    parts = [p for p in message.iter_parts()] if message.is_multipart() else []
    named = [p for p in parts if p.get_param("name", header="content-disposition") == "imageData"]
    chosen = (named or [p for p in parts if p.get_filename()] or [None])[0]
    return chosen.get_payload(decode=True) if chosen is not None else None


def answer(data):
    rows = []
    for p in MODEL.predict(data):
        rows.append({"probability": p["probability"], "tagId": TAG_IDS[p["tag"]], "tagName": p["tag"],
                     "boundingBox": p.get("box")})
    return {
        "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "id": "",
        "iteration": predict.METADATA.get("iteration_id", ""),
        "project": predict.METADATA.get("project_id", ""),
        "predictions": rows,
    }


class Handler(BaseHTTPRequestHandler):
    server_version = "TagsightExport/1"

    def _send(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BYTES:
            raise ValueError(f"The body is larger than {MAX_BYTES} bytes.")
        return self.rfile.read(length)

    def do_GET(self):
        if self.path.rstrip("/") in ("", "/health"):
            return self._send(200, {"status": "Healthy", "labels": predict.LABELS})
        return self._send(404, {"error": "Not found: POST /image or /url."})

    def do_POST(self):
        route = self.path.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1].lower()
        try:
            body = self._body()
            if route == "image":
                content_type = self.headers.get("Content-Type", "")
                data = multipart_image(content_type, body) if content_type.startswith("multipart/") else body
                if not data:
                    return self._send(400, {"error": "No image: send it as the body or as the form field imageData."})
            elif route == "url":
                url = json.loads(body or b"{}").get("url") or json.loads(body or b"{}").get("Url")
                if not url or not str(url).lower().startswith(("http://", "https://")):
                    return self._send(400, {"error": 'Send JSON {"url": "http(s)://..."}.'})
                with urllib.request.urlopen(url, timeout=20) as response:
                    data = response.read(MAX_BYTES + 1)
                if len(data) > MAX_BYTES:
                    return self._send(400, {"error": f"The image is larger than {MAX_BYTES} bytes."})
            else:
                return self._send(404, {"error": "Not found: POST /image or /url."})
            return self._send(200, answer(data))
        except Exception as exc:  # the caller gets a readable error, the server keeps serving
            return self._send(400, {"error": f"{type(exc).__name__}: {exc}"})

    def log_message(self, format, *args):
        sys.stderr.write(f"{self.address_string()} - {format % args}\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=80)
    args = parser.parse_args()
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    print(f"listening on {server.server_address[0]}:{server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
