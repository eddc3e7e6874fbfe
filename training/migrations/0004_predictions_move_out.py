"""StoredPrediction and Export now belong to the predictions app (its 0001 took them over, rows and all)."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("training", "0003_predictions_exports"),
        ("predictions", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="Export"),
                migrations.DeleteModel(name="StoredPrediction"),
            ],
        ),
    ]
