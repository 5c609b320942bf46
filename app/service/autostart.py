"""Start the tray app when the user logs in ("Start at login" in the tray menu).

Linux and other XDG desktops: an autostart entry, $XDG_CONFIG_HOME/autostart/rims-utility.desktop
(default ~/.config/autostart), per the Desktop Application Autostart and Desktop Entry specs.
Windows: the value "RIMS Utility" under HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Run.
macOS (best effort): a LaunchAgent, ~/Library/LaunchAgents/<LAUNCH_AGENT_LABEL>.plist, read at
the next login.

Only the current user's settings are touched (no administrator rights). Every OS error comes out
as AutostartError saying what failed. No Qt here: the service layer."""

import configparser
import contextlib
import os
import plistlib
import subprocess
import sys
from pathlib import Path
from xml.parsers.expat import ExpatError

from app.resources import resources_dir

APP_NAME = "RIMS Utility"
DESKTOP_FILE = "rims-utility.desktop"
RUN_KEY = r"Software\Microsoft\Windows\CurrentVersion\Run"
# Where Task Manager's Startup tab records that the user turned an entry off.
APPROVED_KEY = r"Software\Microsoft\Windows\CurrentVersion\Explorer\StartupApproved\Run"
LAUNCH_AGENT_LABEL = "pk.rims-utility.tray"
COMMENT = "Forwards the point-of-sale's invoices to KPRA RIMS"


class AutostartError(Exception):
    """Start at login could not be read or changed; the message says what and why."""


def launch_command() -> list[str]:
    """The command that starts the tray app as it is installed now."""
    if getattr(sys, "frozen", False):
        program = Path(sys.executable)
        if program.name.lower() == "rims-utility-cli.exe":  # the console twin: no console at login
            program = program.with_name("rims-utility.exe")
        return [str(program)]
    bin_dir = Path(sys.executable).parent
    for name in ("rims-utility.exe", "rims-utility") if sys.platform == "win32" else ("rims-utility",):
        script = bin_dir / name
        if script.is_file():
            return [str(script)]
    return [sys.executable, "-m", "app"]


def is_enabled() -> bool:
    if sys.platform == "win32":
        return _windows_is_enabled()
    if sys.platform == "darwin":
        return _mac_is_enabled()
    return _xdg_is_enabled()


def enable() -> None:
    """Start at login with launch_command(). Enabling again rewrites the entry (idempotent; it
    also follows the app if it was moved or reinstalled)."""
    if sys.platform == "win32":
        _windows_enable()
    elif sys.platform == "darwin":
        _mac_enable()
    else:
        _xdg_enable()


def disable() -> None:
    """Stop starting at login (nothing to do if it was not enabled)."""
    if sys.platform == "win32":
        _windows_disable()
    elif sys.platform == "darwin":
        _mac_disable()
    else:
        _xdg_disable()


# --- Linux and other XDG desktops -------------------------------------------------------------

_EXEC_RESERVED = set(" \t\n\"'\\><~|&;$*?#()`")


def exec_quote(arg: str) -> str:
    """One argument of a Desktop Entry's Exec key (the Desktop Entry spec, "The Exec key"):
    an argument holding a reserved character is put in double quotes, inside which `"`, `` ` ``,
    `$` and `\\` take a backslash; `%` is doubled (field codes). The result is still a string
    value, whose own escaping doubles every backslash (applied before the quoting rule), and
    which cannot hold a line break."""
    if "\n" in arg or "\r" in arg:
        raise AutostartError(f"cannot start {arg!r} at login: a line break in the command")
    arg = arg.replace("%", "%%")
    if arg and not _EXEC_RESERVED.intersection(arg):
        return arg
    quoted = "".join("\\" + c if c in '"`$\\' else c for c in arg)
    return '"' + quoted.replace("\\", "\\\\") + '"'


def desktop_entry(command: list[str]) -> str:
    """The text of the autostart entry that runs ``command``."""
    def value(text: str) -> str:  # a string value: no control characters, backslash escaped
        if any(c in text for c in "\n\r\t"):
            raise AutostartError(f"cannot write {text!r} into {DESKTOP_FILE}")
        return text.replace("\\", "\\\\")

    lines = [
        "[Desktop Entry]",
        "Type=Application",
        "Version=1.0",  # the spec version this entry keeps to (older validators know no later)
        f"Name={APP_NAME}",
        f"Comment={COMMENT}",
        f"Exec={' '.join(exec_quote(arg) for arg in command)}",
        f"Icon={value(_icon())}",
        "Terminal=false",
        "X-GNOME-Autostart-enabled=true",
    ]
    return "\n".join(lines) + "\n"


def xdg_autostart_file() -> Path:
    config = os.environ.get("XDG_CONFIG_HOME", "")
    base = Path(config) if config and Path(config).is_absolute() else Path.home() / ".config"
    return base / "autostart" / DESKTOP_FILE


def _icon() -> str:
    """A path to the app icon, when it will still be there at the next login; else the icon
    theme name (a one-file frozen build unpacks its resources into a temporary folder)."""
    icon = resources_dir() / "icons" / "app-256.png"
    lasting = not getattr(sys, "frozen", False) or icon.resolve().is_relative_to(
        Path(sys.executable).resolve().parent)
    return str(icon) if lasting and icon.is_file() else "rims-utility"


def xdg_system_autostart_files() -> list[Path]:
    """Entries an administrator put in $XDG_CONFIG_DIRS (default /etc/xdg)/autostart for every
    user (the .deb ships one to copy there: /usr/share/rims-utility/autostart/). The user's own
    file of the same name overrides them (Desktop Application Autostart spec)."""
    dirs = os.environ.get("XDG_CONFIG_DIRS", "") or "/etc/xdg"
    found = []
    for folder in dirs.split(":"):
        path = Path(folder) / "autostart" / DESKTOP_FILE
        if folder and Path(folder).is_absolute() and path.is_file():
            found.append(path)
    return found


def _entry_enabled(path: Path) -> bool | None:
    """Whether the entry at ``path`` starts the app at login; None when there is no file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as why:
        raise AutostartError(f"could not read the autostart entry {path}: {why}") from why
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    try:
        entry.read_string(text, source=str(path))
        section = entry["Desktop Entry"]
    except (configparser.Error, KeyError):
        return False  # not a desktop entry a session would start either
    # A desktop's "Startup Applications" switch-off (GNOME) or a deleted entry (spec: Hidden).
    off = section.get("Hidden", "false") == "true"
    return not off and section.get("X-GNOME-Autostart-enabled", "true") != "false"


def _xdg_is_enabled() -> bool:
    mine = _entry_enabled(xdg_autostart_file())
    if mine is not None:
        return mine
    return any(_entry_enabled(path) for path in xdg_system_autostart_files())


def _xdg_enable() -> None:
    path = xdg_autostart_file()
    _write_atomically(path, desktop_entry(launch_command()).encode("utf-8"), "the autostart entry")


def _xdg_disable() -> None:
    path = xdg_autostart_file()
    if xdg_system_autostart_files():  # an administrator's entry for everyone: hide it for me
        hidden = "[Desktop Entry]\nType=Application\nName=" + APP_NAME + "\nHidden=true\n"
        _write_atomically(path, hidden.encode("utf-8"), "the autostart entry")
        return
    try:
        path.unlink(missing_ok=True)
    except OSError as why:
        raise AutostartError(f"could not remove the autostart entry {path}: {why}") from why


def _write_atomically(path: Path, data: bytes, what: str) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_bytes(data)
        os.replace(temporary, path)
    except OSError as why:
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)
        raise AutostartError(f"could not write {what} {path}: {why}") from why


# --- Windows ----------------------------------------------------------------------------------


def windows_command_line(command: list[str]) -> str:
    """The Run value for ``command``: the program's path always in double quotes (a path with
    spaces, as under "C:\\Program Files", must not be split), its arguments quoted by the
    Microsoft C runtime's rules."""
    program, *args = command
    if '"' in program:
        raise AutostartError(f"cannot start {program!r} at login: a quote in its path")
    line = f'"{program}"'
    return f"{line} {subprocess.list2cmdline(args)}" if args else line


def _windows_is_enabled() -> bool:
    import winreg

    try:
        with winreg.OpenKey(winreg.HKEY_CURRENT_USER, RUN_KEY) as key:
            winreg.QueryValueEx(key, APP_NAME)
    except FileNotFoundError:
        return False
    except OSError as why:
        raise AutostartError(f"could not read HKCU\\{RUN_KEY}: {why}") from why
    try:  # turned off in Task Manager's Startup tab: first byte odd (2 on, 3 off)
        with winreg.OpenKey(winreg.HKEY_CURRENT_USER, APPROVED_KEY) as key:
            state, _ = winreg.QueryValueEx(key, APP_NAME)
        return not (isinstance(state, bytes) and state[:1] and state[0] & 1)
    except OSError:
        return True


def _windows_enable() -> None:
    import winreg

    try:
        with winreg.CreateKey(winreg.HKEY_CURRENT_USER, RUN_KEY) as key:
            winreg.SetValueEx(key, APP_NAME, 0, winreg.REG_SZ, windows_command_line(launch_command()))
    except OSError as why:
        raise AutostartError(f"could not write \"{APP_NAME}\" under HKCU\\{RUN_KEY}: {why}") from why
    try:  # forget a Task Manager switch-off, or the entry stays off
        with winreg.OpenKey(winreg.HKEY_CURRENT_USER, APPROVED_KEY, 0, winreg.KEY_SET_VALUE) as key:
            winreg.DeleteValue(key, APP_NAME)
    except OSError:
        pass


def _windows_disable() -> None:
    import winreg

    try:
        with winreg.OpenKey(winreg.HKEY_CURRENT_USER, RUN_KEY, 0, winreg.KEY_SET_VALUE) as key:
            winreg.DeleteValue(key, APP_NAME)
    except FileNotFoundError:
        return
    except OSError as why:
        raise AutostartError(f"could not remove \"{APP_NAME}\" from HKCU\\{RUN_KEY}: {why}") from why


# --- macOS ------------------------------------------------------------------------------------


def launch_agent_file() -> Path:
    return Path.home() / "Library" / "LaunchAgents" / f"{LAUNCH_AGENT_LABEL}.plist"


def launch_agent(command: list[str]) -> bytes:
    return plistlib.dumps({
        "Label": LAUNCH_AGENT_LABEL,
        "ProgramArguments": command,
        "RunAtLoad": True,
        "ProcessType": "Interactive",
    })


def _mac_is_enabled() -> bool:
    path = launch_agent_file()
    try:
        agent = plistlib.loads(path.read_bytes())
    except FileNotFoundError:
        return False
    except OSError as why:
        raise AutostartError(f"could not read the login item {path}: {why}") from why
    except (plistlib.InvalidFileException, ValueError, ExpatError):
        return False  # damaged: launchd skips it too
    return isinstance(agent, dict) and not agent.get("Disabled", False)


def _mac_enable() -> None:
    _write_atomically(launch_agent_file(), launch_agent(launch_command()), "the login item")


def _mac_disable() -> None:
    path = launch_agent_file()
    try:
        path.unlink(missing_ok=True)
    except OSError as why:
        raise AutostartError(f"could not remove the login item {path}: {why}") from why
