"""The audit log names a key as the Keys page does: "API key 1" becomes "Training Key 1" in the entries already
written (every entry a key wrote was a training key's: a prediction key only predicts, which is not audited)."""

from django.db import migrations

OLD, NEW = "API key {}", "Training Key {}"
SLOTS = (1, 2)


def rename(apps, schema_editor, old=OLD, new=NEW):  # type: ignore[no-untyped-def]
    entries = apps.get_model("workspaces", "AuditEntry").objects
    for slot in SLOTS:
        entries.filter(actor__isnull=True, actor_label=old.format(slot)).update(actor_label=new.format(slot))


def rename_back(apps, schema_editor):  # type: ignore[no-untyped-def]
    rename(apps, schema_editor, old=NEW, new=OLD)


class Migration(migrations.Migration):
    dependencies = [("workspaces", "0001_workspaces")]
    operations = [migrations.RunPython(rename, rename_back)]
