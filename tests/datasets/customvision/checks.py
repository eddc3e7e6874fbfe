"""What "imported" means, checked against the source as it was built: settings, tags, originals byte for byte,
image tags, regions within 1e-6, metadata; and no image twice."""

from __future__ import annotations

import hashlib
from typing import Any

from django.core.files.storage import default_storage

from tests.datasets.customvision.conftest import SourceProject


def assert_imported(workspace: Any, source: SourceProject) -> Any:
    from projects.models import Project

    [project] = Project.objects.filter(workspace=workspace, name=source.name)
    assert str(project.domain_id) == source.domain_id
    assert project.project_type == ("detection" if source.domain_id.startswith("da2e3a8a") else "classification")
    assert project.classification_type == source.classification_type
    assert {t.name: t.type for t in project.tags.all()} == source.tags
    images = list(project.images.prefetch_related("tags", "regions__tag"))
    assert len(images) == len(source.images), "every image once, none twice"
    for image in images:
        with default_storage.open(image.file.name) as stored:
            data = stored.read()
        sha = hashlib.sha256(data).hexdigest()
        expected = source.images[sha]  # KeyError: the original was not kept byte for byte
        assert data == expected.data
        assert {t.name for t in image.tags.all()} == expected.tags
        regions = sorted((r.tag.name, r.left, r.top, r.width, r.height) for r in image.regions.all())
        assert len(regions) == len(expected.regions)
        for got, want in zip(regions, sorted(expected.regions), strict=True):
            assert got[0] == want[0]
            assert all(abs(a - b) <= 1e-6 for a, b in zip(got[1:], want[1:], strict=True)), (got, want)
        assert image.metadata == expected.metadata
    return project
