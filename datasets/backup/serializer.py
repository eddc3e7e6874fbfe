"""Django's JSON Lines serializer, keeping datetimes to the microsecond (DjangoJSONEncoder cuts them to the
millisecond, which would reorder rows sorted by ``created`` within a millisecond after a restore)."""

from __future__ import annotations

import datetime
from typing import Any

from django.core.serializers import jsonl
from django.core.serializers.json import DjangoJSONEncoder

FORMAT = "tagsight-jsonl"


class Encoder(DjangoJSONEncoder):
    def default(self, o: Any) -> Any:
        if isinstance(o, datetime.datetime | datetime.time):
            return o.isoformat()
        return super().default(o)


class Serializer(jsonl.Serializer):
    def _init_options(self) -> None:
        super()._init_options()  # type: ignore[misc]
        self.json_kwargs["cls"] = Encoder


Deserializer = jsonl.Deserializer
