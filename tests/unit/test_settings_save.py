"""settings.save: the Settings window's writes to config.toml are checked before the file is
replaced, keep the other entries, and a bad value changes nothing."""

import pytest

from app import settings


def test_save_keeps_other_entries_and_none_restores_the_default(tmp_path):
    (tmp_path / "config.toml").write_text('send_concurrency = 3\n', encoding="utf-8")
    saved = settings.save(tmp_path, port=3100, stuck_alert_hours=2.5)
    assert (saved.port, saved.stuck_alert_hours, saved.send_concurrency) == (3100, 2.5, 3)
    assert settings.load(tmp_path).port == 3100
    assert settings.save(tmp_path, port=None).port == 3000


@pytest.mark.parametrize(("change", "words"), [
    ({"port": 70000}, "port must be between"), ({"stuck_alert_hours": 0}, "stuck_alert_hours"),
    ({"no_such_thing": 1}, "unknown setting no_such_thing")])
def test_a_bad_value_is_refused_and_the_file_is_unchanged(tmp_path, change, words):
    settings.save(tmp_path, port=3100)
    before = (tmp_path / "config.toml").read_bytes()
    with pytest.raises(settings.SettingsError, match=words):
        settings.save(tmp_path, **change)
    assert (tmp_path / "config.toml").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.toml"]
