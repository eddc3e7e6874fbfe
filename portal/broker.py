"""kombu's filesystem transport (the embedded profile's broker) with atomic message writes.

kombu writes a message file in place (open, then write). A worker polling the folder can take the file between
the two and read it empty: the JSONDecodeError stops the worker's consumer (seen in CI when a training was queued
while a worker polled). Here a message is written under a name the consumer ignores, then renamed into place, so a
consumer only ever sees whole messages. Registered for ``filesystem://`` in portal/celery.py.
"""

from __future__ import annotations

import os
import uuid
from time import monotonic
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps


class Channel(filesystem.Channel):
    # kombu's two base classes name the argument differently (message / payload): no override satisfies both.
    def _put(self, queue: Any, payload: Any, **kwargs: Any) -> None:  # type: ignore[override]
        """Put ``payload`` onto ``queue``: written to ``<name>.part`` (not ``<queue>.msg``), then renamed."""
        name = os.path.join(self.data_folder_out, f"{int(round(monotonic() * 1000))}_{uuid.uuid4()}.{queue}.msg")
        part = f"{name}.part"
        try:
            with open(part, "wb") as f:
                f.write(str_to_bytes(dumps(payload)))  # type: ignore[no-untyped-call]  # kombu is untyped
            os.replace(part, name)  # atomic on one file system: the consumer sees all of it or nothing
        except OSError as exc:
            raise ChannelError(f"Cannot add file {name!r} to directory") from exc


class Transport(filesystem.Transport):
    Channel = Channel
