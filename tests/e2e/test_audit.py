"""Browser: an Owner reads a team's audit log after a day of work, and narrows it to one person with the filter."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import sign_in
from tests.factories import make_image_bytes

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def a_day_of_work(owner: Any, django_user_model: Any) -> Any:
    """A team workspace where a labeler, a trainer and a script did real work through the services, each as
    the request would have named them (user or key, and their address)."""
    from labeling.services import region_create
    from projects.services import image_upload, images_delete, project_create, tag_create, tag_update
    from workspaces import audit
    from workspaces.models import Role
    from workspaces.services import key_regenerate, member_add, workspace_create

    def as_(user: Any, ip: str) -> Any:
        return audit.acting_as(audit.Actor(user.pk, user.username, ip))

    bob = django_user_model.objects.create_user(username="bob", password="bob-pass-123")
    carol = django_user_model.objects.create_user(username="carol", password="carol-pass-123")
    with as_(owner, "203.0.113.7"):
        team = workspace_create(name="Vision team", owner=owner)
        member_add(workspace=team, user=bob, role=Role.LABELER)
        member_add(workspace=team, user=carol, role=Role.TRAINER)
        project = project_create(created_by=owner, workspace=team, name="Kitchen forks", project_type="detection")
        fork = tag_create(project=project, name="fork")
    with as_(bob, "198.51.100.20"):
        images = [image_upload(project=project, data=make_image_bytes(color=(i * 30, 80, 160))).image
                  for i in range(6)]
        knife = tag_create(project=project, name="knfie")
        tag_update(tag=knife, name="knife")
        for i, image in enumerate(images):
            region_create(image=image, tag=fork if i % 2 else knife, left=0.1, top=0.2, width=0.4, height=0.3)
    with as_(carol, "198.51.100.31"):
        images_delete(project=project, image_ids=[images[0].id])
    with audit.acting_as(audit.Actor(None, "Training Key 2", "192.0.2.44")):
        image_upload(project=project, data=make_image_bytes(color=(250, 250, 10)))
    with as_(owner, "203.0.113.7"):
        key_regenerate(workspace=team, kind="training", slot=1)
    return team


def test_the_owner_reads_the_log_and_filters_it_to_one_person(page, live_server, owner, django_user_model,
                                                               screenshot) -> None:  # type: ignore[no-untyped-def]
    team = a_day_of_work(owner, django_user_model)
    base = live_server.url
    sign_in(page, base, "owner", "owner-pass-123")
    page.goto(f"{base}/workspaces/{team.id}/keys")
    page.click("text=audit log")
    page.wait_for_selector("text=Audit log of Vision team")
    rows = page.locator("[data-testid=audit-entry]")
    assert rows.first.inner_text().split("\t")[1:4] == ["owner", "127.0.0.1", "Signed in"]
    assert page.locator("[data-action=region]").count() == 1  # six boxes, one session: one entry
    assert "6 changes" in page.locator("[data-action=region]").inner_text()
    assert "Training Key 2" in page.locator("[data-action='image.upload']").first.inner_text()
    screenshot("audit-log")

    page.select_option("select[name=actor]", "bob")  # htmx swaps the entries and keeps the URL shareable
    page.wait_for_url("**actor=bob**")
    page.wait_for_function("[...document.querySelectorAll('[data-testid=audit-entry] td:nth-child(2)')]"
                           ".every(td => td.innerText === 'bob')")
    assert [r.split("\t")[3] for r in rows.all_inner_texts()] == [
        "Edited boxes6 changes", "Renamed a tag", "Created a tag", "Uploaded images6 images"]
    screenshot("audit-log-bob")
