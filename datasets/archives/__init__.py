"""Project archives: one zip holding a whole project (settings, tags, images, regions, optionally iterations with
their models), downloaded from one server and imported on another (or the same) one.

``export.archive_chunks`` writes it as a stream; ``imports.archive_inspect`` checks one (preview and problems) and
``imports.archive_import`` turns it into a new project, all or nothing. The format is in ``format``.
"""
