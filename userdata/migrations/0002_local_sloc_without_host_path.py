from django.db import migrations
from django.db.models import F, Value
from django.db.models.functions import Concat


def local_sloc_from_key(apps, schema_editor):
    """Rows stored in the local directory said `file://<the server's absolute path>`; they
    now say `local:<key>` (userdata.storage.LOCAL_SCHEME), as new uploads do."""
    UserData = apps.get_model("userdata", "UserData")
    UserData.objects.filter(sloc__startswith="file://").update(
        sloc=Concat(Value("local:"), F("key"))
    )


class Migration(migrations.Migration):
    dependencies = [("userdata", "0001_initial")]

    operations = [migrations.RunPython(local_sloc_from_key, migrations.RunPython.noop)]
