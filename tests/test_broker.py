"""The embedded broker (kombu's filesystem transport) never hands a worker half a message."""

from __future__ import annotations

import os

from kombu import Connection


def test_messages_are_written_atomically_so_a_polling_consumer_never_reads_a_torn_one(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import portal.celery  # noqa: F401  (registers the atomic transport for filesystem://)

    folder = tmp_path / "broker"
    folder.mkdir()
    options = {"data_folder_in": str(folder), "data_folder_out": str(folder), "control_folder": str(tmp_path / "ctl")}
    seen_partial: list[str] = []
    real_open = open

    def spy(name, *args, **kwargs):  # type: ignore[no-untyped-def]
        # While the producer writes, the folder must hold no file with the consumer's ".<queue>.msg" ending
        # that is still empty: that is what a polling worker would take and fail to decode.
        f = real_open(name, *args, **kwargs)
        if "w" in (args[0] if args else kwargs.get("mode", "")):
            for entry in os.listdir(folder):
                if entry.endswith(".q.msg") and os.path.getsize(folder / entry) == 0:
                    seen_partial.append(entry)
        return f

    with Connection("filesystem://", transport_options=options) as conn:
        assert type(conn.transport).__module__ == "portal.broker"
        queue = conn.SimpleQueue("q")
        import builtins

        builtins.open, saved = spy, builtins.open
        try:
            for i in range(20):
                queue.put({"n": i})
        finally:
            builtins.open = saved
        got = []
        for _ in range(20):
            message = queue.get(timeout=5)
            got.append(message.payload["n"])
            message.ack()
        assert sorted(got) == list(range(20))
        assert not [e for e in os.listdir(folder) if e.endswith(".part")]
        queue.close()
    assert not seen_partial
