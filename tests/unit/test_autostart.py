"""Start at login (app/service/autostart.py): the XDG autostart entry for real (in a temporary
XDG_CONFIG_HOME), read back the way a desktop session reads it and run; the Windows Run value
and the macOS LaunchAgent through their pure builders (and the LaunchAgent file for real)."""

import configparser
import plistlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from app.service import autostart
from app.service.autostart import AutostartError


@pytest.fixture
def config_home(monkeypatch, tmp_path: Path) -> Path:
    home = tmp_path / "config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_DIRS", str(tmp_path / "etc-xdg"))  # not this machine's /etc/xdg
    monkeypatch.setattr(sys, "platform", "linux")
    return home


def read_entry(path: Path) -> configparser.SectionProxy:
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str  # type: ignore[assignment,method-assign]
    entry.read_string(path.read_text(encoding="utf-8"))
    return entry["Desktop Entry"]


def unescape_string(value: str) -> str:
    """A Desktop Entry string value: \\s \\n \\t \\r \\\\ (the spec's "Possible value types")."""
    out, chars = [], iter(value)
    for c in chars:
        if c == "\\":
            nxt = next(chars)
            out.append({"s": " ", "n": "\n", "t": "\t", "r": "\r", "\\": "\\"}[nxt])
        else:
            out.append(c)
    return "".join(out)


def parse_exec(value: str) -> list[str]:
    """The argv a desktop session runs for an Exec value, written from the spec ("The Exec
    key"): string unescaping first, then double-quoted arguments in which \\ escapes
    " ` $ \\, then %% for a literal %. Field codes must not occur (we pass no files)."""
    text = unescape_string(value)
    args: list[str] = []
    current: list[str] = []
    started = quoted = False
    chars = iter(text)
    for c in chars:
        if quoted:
            if c == "\\":
                nxt = next(chars)
                assert nxt in '"`$\\', f"\\{nxt} is not a valid escape in a quoted argument"
                current.append(nxt)
            elif c == '"':
                quoted = False
            else:
                current.append(c)
        elif c == '"':
            quoted = started = True
        elif c == " ":
            if started:
                args.append("".join(current))
                current, started = [], False
        else:
            assert c not in "\t\n\"'\\><~|&;$*?#()`", f"reserved {c!r} outside quotes in {value!r}"
            current.append(c)
            started = True
    assert not quoted, f"unterminated quote in {value!r}"
    if started:
        args.append("".join(current))
    unpercented = []
    for arg in args:
        assert "%" not in arg.replace("%%", ""), f"a field code in {arg!r}"
        unpercented.append(arg.replace("%%", "%"))
    return unpercented


def validate(path: Path) -> None:
    """desktop-file-validate (Debian's desktop-file-utils), where it is installed."""
    tool = shutil.which("desktop-file-validate")
    if tool:
        checked = subprocess.run([tool, str(path)], capture_output=True, text=True, check=False)
        assert checked.returncode == 0 and "error" not in checked.stdout.lower(), checked.stdout


def test_enable_writes_a_desktop_entry_that_starts_the_app(config_home: Path):
    assert not autostart.is_enabled()
    autostart.enable()
    path = config_home / "autostart" / "rims-utility.desktop"
    assert autostart.xdg_autostart_file() == path and path.is_file()
    entry = read_entry(path)
    assert entry["Type"] == "Application"
    assert entry["Name"] == "RIMS Utility"
    assert entry["Comment"]
    assert entry["X-GNOME-Autostart-enabled"] == "true"
    assert Path(entry["Icon"]).is_file() and entry["Icon"].endswith("app-256.png")
    argv = parse_exec(entry["Exec"])
    assert argv == autostart.launch_command()
    validate(path)
    # What the session would run does start this app (asked only for its version here).
    ran = subprocess.run([*argv, "--version"], capture_output=True, text=True, timeout=60, check=False)
    assert ran.returncode == 0 and ran.stdout.startswith("rims-utility "), ran


def test_is_enabled_tracks_enable_and_disable_and_both_are_idempotent(config_home: Path):
    path = autostart.xdg_autostart_file()
    autostart.disable()  # nothing to remove: no error
    assert not autostart.is_enabled()
    autostart.enable()
    first = path.read_bytes()
    autostart.enable()
    assert autostart.is_enabled()
    assert path.read_bytes() == first
    assert [p.name for p in path.parent.iterdir()] == ["rims-utility.desktop"]  # no temporary left
    autostart.disable()
    assert not path.exists() and not autostart.is_enabled()
    autostart.disable()
    assert not autostart.is_enabled()


def test_an_entry_switched_off_by_the_desktop_counts_as_off_until_enabled_again(config_home: Path):
    autostart.enable()
    path = autostart.xdg_autostart_file()
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("X-GNOME-Autostart-enabled=true", "X-GNOME-Autostart-enabled=false"))
    assert not autostart.is_enabled()
    path.write_text(text + "Hidden=true\n")
    assert not autostart.is_enabled()
    path.write_text("not a desktop entry\n")
    assert not autostart.is_enabled()
    autostart.enable()
    assert autostart.is_enabled() and path.read_text(encoding="utf-8") == text


def test_an_administrators_entry_for_every_user_can_be_turned_off_and_on_by_one_user(
        config_home: Path, tmp_path: Path):
    """The .deb ships an entry an administrator may copy into /etc/xdg/autostart. Turning start
    at login off must then hide it for this user (Hidden=true in the user's own file of the same
    name, per the Autostart spec), not just delete a file that is not there."""
    system = tmp_path / "etc-xdg" / "autostart" / "rims-utility.desktop"
    system.parent.mkdir(parents=True)
    system.write_text(autostart.desktop_entry(["/usr/bin/rims-utility"]), encoding="utf-8")
    assert autostart.xdg_system_autostart_files() == [system]
    assert autostart.is_enabled()
    autostart.disable()
    assert not autostart.is_enabled()
    assert read_entry(autostart.xdg_autostart_file())["Hidden"] == "true"
    assert system.exists()  # the administrator's file is not ours to change
    autostart.enable()
    assert autostart.is_enabled()
    assert "Hidden" not in read_entry(autostart.xdg_autostart_file())


def test_an_awkward_install_path_is_quoted_so_the_session_still_runs_it(config_home: Path, monkeypatch,
                                                                        tmp_path: Path):
    folder = tmp_path / 'Shop\'s "POS" $HOME `x` 100% \\ (1) #2'
    folder.mkdir()
    program = folder / "RIMS Utility"
    marker = tmp_path / "started"
    program.write_text(f"#!/bin/sh\necho started > '{marker}'\n")
    program.chmod(0o755)
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", str(program))
    assert autostart.launch_command() == [str(program)]
    autostart.enable()
    path = autostart.xdg_autostart_file()
    argv = parse_exec(read_entry(path)["Exec"])
    assert argv == [str(program)]
    validate(path)
    subprocess.run(argv, check=True, timeout=30)
    assert marker.read_text() == "started\n"


def test_exec_quoting_follows_the_desktop_entry_spec():
    assert autostart.exec_quote("/usr/bin/rims-utility") == "/usr/bin/rims-utility"
    assert autostart.exec_quote("-m") == "-m"
    assert autostart.exec_quote("/opt/RIMS Utility/run") == '"/opt/RIMS Utility/run"'
    assert autostart.exec_quote('a"b') == '"a\\\\"b"'  # \" then string-escaped: \\"
    assert autostart.exec_quote("a\\b") == '"a\\\\\\\\b"'  # four backslashes, as the spec says
    assert autostart.exec_quote("50%") == "50%%"
    assert autostart.exec_quote("") == '""'
    for arg in ["plain", "with space", 'q"uote', "dollar$", "back`tick", "b\\s", "100% (x)", "~/x"]:
        assert parse_exec(autostart.exec_quote(arg)) == [arg]
    with pytest.raises(AutostartError, match="line break"):
        autostart.exec_quote("two\nlines")


def test_the_config_folder_defaults_to_dot_config(monkeypatch, tmp_path: Path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    expected = tmp_path / ".config" / "autostart" / "rims-utility.desktop"
    assert autostart.xdg_autostart_file() == expected
    monkeypatch.setenv("XDG_CONFIG_HOME", "relative/dir")  # the spec: ignore a relative path
    assert autostart.xdg_autostart_file() == expected
    monkeypatch.setenv("XDG_CONFIG_HOME", "")
    assert autostart.xdg_autostart_file() == expected


def test_os_errors_come_out_as_autostart_error_saying_what_failed(config_home: Path):
    config_home.mkdir()
    (config_home / "autostart").write_text("a file where the folder should be")
    with pytest.raises(AutostartError, match=r"could not write the autostart entry .*rims-utility\.desktop"):
        autostart.enable()
    (config_home / "autostart").unlink()
    (config_home / "autostart" / "rims-utility.desktop").mkdir(parents=True)
    with pytest.raises(AutostartError, match="could not read the autostart entry"):
        autostart.is_enabled()
    with pytest.raises(AutostartError, match="could not remove the autostart entry"):
        autostart.disable()


def test_launch_command(monkeypatch, tmp_path: Path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    python = bin_dir / "python"
    monkeypatch.setattr(sys, "executable", str(python))
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.delattr(sys, "frozen", raising=False)
    assert autostart.launch_command() == [str(python), "-m", "app"]
    script = bin_dir / "rims-utility"
    script.write_text("#!/bin/sh\n")
    assert autostart.launch_command() == [str(script)]
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    assert autostart.launch_command() == [str(python)]
    # Windows: started from the console twin, login still starts the windowed program
    cli = bin_dir / "rims-utility-cli.exe"
    monkeypatch.setattr(sys, "executable", str(cli))
    assert autostart.launch_command() == [str(bin_dir / "rims-utility.exe")]


def test_the_windows_run_value_quotes_the_program():
    exe = r"C:\Program Files\RIMS Utility\rims-utility.exe"
    assert autostart.windows_command_line([exe]) == f'"{exe}"'
    python = r"C:\Users\Shop Owner\rims\.venv\Scripts\python.exe"
    assert autostart.windows_command_line([python, "-m", "app"]) == f'"{python}" -m app'
    # a trailing backslash is doubled, or it would escape the closing quote
    assert (autostart.windows_command_line([exe, "--data-dir", "D:\\RIMS data\\"])
            == f'"{exe}" --data-dir "D:\\RIMS data\\\\"')
    with pytest.raises(AutostartError, match="quote"):
        autostart.windows_command_line(['C:\\bad"name.exe'])


def test_the_macos_launch_agent(monkeypatch, tmp_path: Path):
    agent = plistlib.loads(autostart.launch_agent(["/Applications/RIMS Utility.app/Contents/MacOS/rims"]))
    assert agent == {"Label": autostart.LAUNCH_AGENT_LABEL, "RunAtLoad": True, "ProcessType": "Interactive",
                     "ProgramArguments": ["/Applications/RIMS Utility.app/Contents/MacOS/rims"]}
    monkeypatch.setattr(sys, "platform", "darwin")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert not autostart.is_enabled()
    autostart.enable()
    autostart.enable()
    path = tmp_path / "Library" / "LaunchAgents" / f"{autostart.LAUNCH_AGENT_LABEL}.plist"
    assert plistlib.loads(path.read_bytes())["ProgramArguments"] == autostart.launch_command()
    assert autostart.is_enabled()
    autostart.disable()
    assert not path.exists() and not autostart.is_enabled()
