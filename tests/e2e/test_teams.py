"""Browser test of a team forming: an Owner creates a workspace and invites by e-mail; the invitee opens the
link from the e-mail in their own browser, creates an account, lands in the workspace and sees its project;
the switcher takes them between workspaces; the Owner rotates a key on the Keys page."""

from __future__ import annotations

import re

import pytest
from django.core import mail

from tests.factories import make_project
from workspaces.models import Membership, Workspace, WorkspaceKey

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_owner_invites_by_email_and_the_invitee_joins_from_the_link(  # type: ignore[no-untyped-def]
    page, browser, login_as, owner, live_server, screenshot
):
    base = live_server.url
    login_as(owner)
    page.goto(f"{base}/workspaces/new")
    page.fill("input[name=name]", "Forestry")
    page.click("button:has-text('Create workspace')")
    team = Workspace.objects.get(name="Forestry")
    page.wait_for_url(f"{base}/workspaces/{team.id}/members")
    make_project(owner, name="Hemlocks", workspace=team)

    page.fill("input[name=email]", "ann@example.com")
    page.select_option("#id_role", "labeler")
    page.click("button:has-text('Send invitation')")
    expect(page.get_by_test_id("invitations")).to_contain_text("ann@example.com")
    expect(page.locator("#messages")).to_contain_text("Invitation sent to ann@example.com")
    expect(page.locator("#members")).to_have_count(1)  # the fragment replaced itself, not nested
    expect(page.locator("h2", has_text="People")).to_have_count(1)
    expect(page.locator("#id_email")).to_have_value("")
    screenshot("teams-members")

    (message,) = mail.outbox
    link = re.search(r"http://\S+/invite/\w+", message.body).group(0)  # type: ignore[union-attr]
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    try:
        ann = context.new_page()
        ann.goto(link)
        expect(ann.locator("h1")).to_have_text("Join Forestry")
        expect(ann.locator("input[name=email]")).to_have_value("ann@example.com")
        expect(ann.locator("input[name=email]")).to_be_disabled()
        if screenshot_dir := __import__("os").environ.get("TAGSIGHT_SHOTS_DIR"):
            ann.screenshot(path=f"{screenshot_dir}/teams-invitation.png", full_page=True)
        ann.fill("input[name=username]", "ann")
        ann.fill("input[name=password1]", "a-long-pass-2024")
        ann.fill("input[name=password2]", "a-long-pass-2024")
        ann.click("button:has-text('Create account and join')")
        ann.wait_for_url(f"{base}/")
        expect(ann.get_by_test_id("project-tile")).to_have_text(re.compile("Hemlocks"))
        expect(ann.locator(".switcher-name")).to_have_text("Forestry")
        expect(ann.locator(".switcher summary .role")).to_have_text("Labeler")
        assert Membership.objects.get(workspace=team, user__username="ann").role == "labeler"

        # The switcher: open it, go to ann's personal workspace (no projects), and back.
        ann.click(".switcher summary")
        expect(ann.locator(".switcher-menu")).to_be_visible()
        if screenshot_dir:
            ann.screenshot(path=f"{screenshot_dir}/teams-switcher.png", full_page=True)
        ann.click(".switcher-item:has-text('ann')")
        ann.wait_for_url(f"{base}/")
        expect(ann.locator(".switcher-name")).to_have_text("ann")
        expect(ann.get_by_test_id("project-tile")).to_have_count(0)
        ann.click(".switcher summary")
        ann.click(".switcher-item:has-text('Forestry')")
        expect(ann.locator(".switcher-name")).to_have_text("Forestry")
        expect(ann.get_by_test_id("project-tile")).to_have_count(1)
    finally:
        context.close()

    # The Owner sees ann among the members and makes her Trainer, then rotates Training Key 2 (confirmed).
    page.goto(f"{base}/workspaces/{team.id}/members")
    row = page.locator("tr[data-member=ann]")
    expect(row).to_contain_text("ann@example.com")
    row.locator("select[name=role]").select_option("trainer")
    row.locator("button:has-text('Change')").click()
    expect(page.locator("#messages")).to_contain_text("ann is now Trainer")
    assert Membership.objects.get(workspace=team, user__username="ann").role == "trainer"
    page.goto(f"{base}/workspaces/{team.id}/keys")
    old = page.get_by_test_id("training-key-2").inner_text()
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("form:has(input[name=kind][value=training]):has(input[name=slot][value='2']) button").click()
    expect(page.get_by_test_id("training-key-2")).not_to_have_text(old)
    assert WorkspaceKey.objects.get(workspace=team, kind="training", slot=2).key != old
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
    copy = page.locator("[data-copy='#training-key-2']")
    expect(copy).to_have_accessible_name("Copy Training Key 2")
    copy.click()  # the regenerated key, as the SDKs take it
    expect(copy).to_contain_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == WorkspaceKey.objects.get(
        workspace=team, kind="training", slot=2).key
    page.get_by_role("button", name="Copy the endpoint").click()
    expect(page.locator("[data-copy='#endpoint']")).to_contain_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == f"{base}/"
    screenshot("teams-keys")
