"""A second launch of the tray app for the same data folder brings the first one's window
forward instead of starting another (gui/single.py), and a launch for another folder does
not."""

from app.gui import single


def test_a_second_launch_asks_the_first_to_show_its_window(qtbot, tmp_path):
    shown: list[bool] = []
    first = single.FirstInstance(tmp_path / "data", lambda: shown.append(True))
    try:
        assert single.ask_first_to_show(tmp_path / "data")
        qtbot.waitUntil(lambda: bool(shown), timeout=5_000)
        assert not single.ask_first_to_show(tmp_path / "other-data", timeout_ms=300)
    finally:
        first.close()
    assert not single.ask_first_to_show(tmp_path / "data", timeout_ms=300)  # gone with it
