"""Azure's domains the source may name, mapped to ours (no server needed)."""

from __future__ import annotations

from uuid import UUID

from datasets.customvision.services import domain_map
from projects.domains import DEFAULT_CLASSIFICATION_DOMAIN, DEFAULT_DETECTION_DOMAIN, DOMAINS


def test_azure_domain_ids_are_ours() -> None:
    for domain in DOMAINS:
        assert domain_map(domain_id=str(domain.id), source_domains={}) == (domain.id, "")


def test_an_unknown_id_maps_by_type_and_name_else_to_general() -> None:
    logo = next(d for d in DOMAINS if d.name == "Logo")
    listed = {"11111111-0000-0000-0000-000000000001": {"type": "ObjectDetection", "name": "Logo"},
              "11111111-0000-0000-0000-000000000002": {"type": "ObjectDetection", "name": "Drones"},
              "11111111-0000-0000-0000-000000000003": {"type": "Classification", "name": "Fashion"}}
    found, note = domain_map(domain_id="11111111-0000-0000-0000-000000000001", source_domains=listed)
    assert found == logo.id and "Logo" in note
    found, note = domain_map(domain_id="11111111-0000-0000-0000-000000000002", source_domains=listed)
    assert found == DEFAULT_DETECTION_DOMAIN and "Drones" in note and "no match" in note
    found, note = domain_map(domain_id="11111111-0000-0000-0000-000000000003", source_domains=listed)
    assert found == DEFAULT_CLASSIFICATION_DOMAIN and "Fashion" in note
    found, note = domain_map(domain_id="not-a-guid", source_domains={})
    assert isinstance(found, UUID) and found == DEFAULT_CLASSIFICATION_DOMAIN and note
