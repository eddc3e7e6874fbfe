"""StoredPrediction and Export move from the training app to this one, keeping every row.

The models are taken over as they are (state only: the tables exist, made by training.0003), then their tables
are renamed to this app's names and their content types (and so their permissions) re-labelled.
training.0004 drops them from training's state after this migration ran.
"""

import django.db.models.deletion
import uuid
from django.db import migrations, models


def relabel_content_types(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    db = schema_editor.connection.alias
    for model in ("export", "storedprediction"):
        if not ContentType.objects.using(db).filter(app_label="predictions", model=model).exists():
            ContentType.objects.using(db).filter(app_label="training", model=model).update(app_label="predictions")


def unlabel_content_types(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    db = schema_editor.connection.alias
    ContentType.objects.using(db).filter(app_label="predictions", model__in=["export", "storedprediction"]).update(
        app_label="training")


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("projects", "0001_initial"),
        ("training", "0003_predictions_exports"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='Export',
                    fields=[
                        ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                        ('platform', models.CharField(default='ONNX', max_length=20)),
                        ('flavor', models.CharField(blank=True, default='', max_length=40)),
                        ('status', models.CharField(choices=[('Exporting', 'Exporting'), ('Done', 'Done'), ('Failed', 'Failed')], default='Exporting', max_length=20)),
                        ('file', models.CharField(blank=True, default='', max_length=300)),
                        ('size', models.PositiveBigIntegerField(default=0)),
                        ('parity', models.JSONField(blank=True, null=True)),
                        ('error', models.TextField(blank=True, default='')),
                        ('created', models.DateTimeField(auto_now_add=True)),
                        ('finished', models.DateTimeField(blank=True, null=True)),
                        ('iteration', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='exports', to='training.iteration')),
                    ],
                    options={
                        'db_table': 'training_export',
                        'ordering': ['-created'],
                        'constraints': [models.UniqueConstraint(fields=('iteration', 'platform', 'flavor'), name='export_unique_per_iteration')],
                    },
                ),
                migrations.CreateModel(
                    name='StoredPrediction',
                    fields=[
                        ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                        ('iteration_name', models.CharField(blank=True, default='', max_length=200)),
                        ('file', models.CharField(max_length=300)),
                        ('thumbnail', models.CharField(blank=True, default='', max_length=300)),
                        ('content_type', models.CharField(default='image/jpeg', max_length=50)),
                        ('width', models.PositiveIntegerField(default=0)),
                        ('height', models.PositiveIntegerField(default=0)),
                        ('created', models.DateTimeField(auto_now_add=True)),
                        ('source', models.CharField(choices=[('quicktest', 'Quick Test'), ('api', 'Prediction API')], default='quicktest', max_length=20)),
                        ('application', models.CharField(blank=True, default='', max_length=200)),
                        ('predictions', models.JSONField(default=list)),
                        ('top_tag', models.CharField(blank=True, default='', max_length=200)),
                        ('top_probability', models.FloatField(default=0.0)),
                        ('uncertainty', models.FloatField(default=0.0)),
                        ('model_ms', models.FloatField(default=0.0)),
                        ('iteration', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='stored_predictions', to='training.iteration')),
                        ('project', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='stored_predictions', to='projects.project')),
                    ],
                    options={
                        'db_table': 'training_storedprediction',
                        'ordering': ['-uncertainty', '-created'],
                        'indexes': [models.Index(fields=['project', '-uncertainty'], name='storedpred_project_uncertain'), models.Index(fields=['project', '-created'], name='storedpred_project_created'), models.Index(fields=['created'], name='storedpred_created')],
                    },
                ),
            ],
        ),
        migrations.AlterModelTable(name="export", table=None),
        migrations.AlterModelTable(name="storedprediction", table=None),
        migrations.RunPython(relabel_content_types, unlabel_content_types),
    ]
