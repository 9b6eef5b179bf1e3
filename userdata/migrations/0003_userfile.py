from django.conf import settings
from django.db import migrations


class Migration(migrations.Migration):
    """The model's name only: the table stays users_data, as the Rust service named it."""

    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("userdata", "0002_local_sloc_without_host_path"),
    ]

    operations = [migrations.RenameModel(old_name="UserData", new_name="UserFile")]
