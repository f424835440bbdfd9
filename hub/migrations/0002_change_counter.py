from django.db import migrations


def create_counter(apps, schema_editor):
    apps.get_model("hub", "ChangeCounter").objects.get_or_create(name="change", defaults={"value": 0})


class Migration(migrations.Migration):
    dependencies = [("hub", "0001_initial")]
    operations = [migrations.RunPython(create_counter, migrations.RunPython.noop)]
