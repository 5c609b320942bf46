"""A real X desktop with no screen, for tests of the real tray icon (test_real_tray.py): Xvfb on a
display number picked here, trayer as the system tray, and small helpers to look at windows
(xwininfo, xprop), press keys and click (xdotool), and take a screenshot (a Qt helper process
on the same display, run as ``python tests/gui/xvfb.py grab OUT.png [X Y W H]``).

The Debian packages (xvfb, trayer, xdotool, x11-utils and the Qt xcb libraries) are installed
by build_scripts/bootstrap.sh. Every process started here is ours and is stopped by its pid.
Xvfb -displayfd was flaky on this machine kind (ENVIRONMENT.md), so we pick the number
ourselves and wait for its socket."""

import ctypes
import ctypes.util
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import TypeVar

SOCKETS = Path("/tmp/.X11-unix")
SCREEN = (1366, 768)
DESKTOP = 0x3B6E8F  # the desktop colour in screenshots
T = TypeVar("T")


class XError(RuntimeError):
    pass


def wait_for(what: str, check: Callable[[], T], timeout: float, interval: float = 0.05) -> T:
    """Poll ``check`` until it returns something true; that value. XError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise XError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


def stop(process: subprocess.Popen | None, timeout: float = 5.0) -> None:
    """SIGTERM, then SIGKILL after ``timeout``; always reaped."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout)


def display_in_use(number: int) -> bool:
    return (SOCKETS / f"X{number}").exists() or Path(f"/tmp/.X{number}-lock").exists()


def free_displays(first: int = 90, last: int = 400) -> Iterator[int]:
    """Display numbers with neither a socket nor a lock file (spread by pid, so that concurrent
    runs rarely try the same one; Xvfb refuses a taken number anyway and we try the next)."""
    span = last - first
    start = os.getpid() % span
    for i in range(span):
        number = first + (start + i) % span
        if not display_in_use(number):
            yield number


@contextmanager
def xvfb(log_dir: Path, size: tuple[int, int] = SCREEN) -> Iterator[str]:
    """A running Xvfb; its DISPLAY (":n"). Stopped (and its files gone) at the end."""
    log_dir.mkdir(parents=True, exist_ok=True)
    last_error = "no free display number"
    for number in islice(free_displays(), 5):
        log_path = log_dir / f"xvfb-{number}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                ["Xvfb", f":{number}", "-screen", "0", f"{size[0]}x{size[1]}x24",
                 "-nolisten", "tcp", "-noreset"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        try:
            socket = SOCKETS / f"X{number}"
            deadline = time.monotonic() + 15
            while process.poll() is None and not socket.exists() and time.monotonic() < deadline:
                time.sleep(0.02)
            if process.poll() is not None or not socket.exists():
                # taken meanwhile by another run (Xvfb says so and exits), or too slow
                last_error = log_path.read_text(errors="replace")
                continue
            display = f":{number}"
            wait_for(f"Xvfb {display} to answer", lambda d=display: x_answers(d), 15)
            set_background(display, DESKTOP)
            yield display
            return
        finally:
            stop(process)
    raise XError(f"could not start Xvfb: {last_error.strip()[-2000:]}")


def x_answers(display: str) -> bool:
    return subprocess.run(["xdpyinfo", "-display", display], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL, timeout=10).returncode == 0


# ---------------------------------------------------------------- X queries (libX11, ctypes)

_xlib = None


def _libx11() -> ctypes.CDLL:
    global _xlib
    if _xlib is None:
        lib = ctypes.CDLL(ctypes.util.find_library("X11") or "libX11.so.6")
        lib.XOpenDisplay.restype = ctypes.c_void_p
        lib.XOpenDisplay.argtypes = [ctypes.c_char_p]
        lib.XInternAtom.restype = ctypes.c_ulong
        lib.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
        lib.XGetSelectionOwner.restype = ctypes.c_ulong
        lib.XGetSelectionOwner.argtypes = [ctypes.c_void_p, ctypes.c_ulong]
        lib.XCloseDisplay.argtypes = [ctypes.c_void_p]
        lib.XDefaultRootWindow.restype = ctypes.c_ulong
        lib.XDefaultRootWindow.argtypes = [ctypes.c_void_p]
        lib.XSetWindowBackground.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong]
        lib.XClearWindow.argtypes = [ctypes.c_void_p, ctypes.c_ulong]
        lib.XFlush.argtypes = [ctypes.c_void_p]
        _xlib = lib
    return _xlib


def selection_owner(display: str, selection: str) -> int:
    """The window owning an X selection (0: none), e.g. _NET_SYSTEM_TRAY_S0: "is there a tray"
    (what QSystemTrayIcon.isSystemTrayAvailable() asks)."""
    lib = _libx11()
    connection = lib.XOpenDisplay(display.encode())
    if not connection:
        raise XError(f"cannot open display {display}")
    try:
        return int(lib.XGetSelectionOwner(connection, lib.XInternAtom(connection,
                                                                      selection.encode(), 0)))
    finally:
        lib.XCloseDisplay(connection)


def set_background(display: str, rgb: int) -> None:
    """Paint the desktop (the root window) one colour, 0xRRGGBB (Xvfb's is black)."""
    lib = _libx11()
    connection = lib.XOpenDisplay(display.encode())
    if not connection:
        raise XError(f"cannot open display {display}")
    try:
        root = lib.XDefaultRootWindow(connection)
        lib.XSetWindowBackground(connection, root, rgb)  # a 24-bit TrueColor pixel is 0xRRGGBB
        lib.XClearWindow(connection, root)
        lib.XFlush(connection)
    finally:
        lib.XCloseDisplay(connection)


# ------------------------------------------------------------------ windows (xwininfo, xprop)

@dataclass(frozen=True)
class Window:
    id: int
    name: str | None
    x: int  # absolute (root) coordinates
    y: int
    width: int
    height: int
    depth: int  # 0: a top-level window (child of the root), 1: its child, …

    @property
    def rect(self) -> tuple[int, int, int, int]:
        return self.x, self.y, self.width, self.height


_LINE = re.compile(r"^(?P<indent>\s*)(?P<id>0x[0-9a-f]+) (?P<name>\(has no name\)|\".*?\")"
                   r".*?\s(?P<w>\d+)x(?P<h>\d+)[+-]-?\d+[+-]-?\d+\s+\+(?P<x>-?\d+)\+(?P<y>-?\d+)\s*$")


def tree(display: str, root: int | None = None) -> list[Window]:
    """Every window under ``root`` (default: the root window), from ``xwininfo -tree``."""
    where = ["-root"] if root is None else ["-id", hex(root)]
    out = subprocess.run(["xwininfo", "-display", display, "-tree", *where], capture_output=True,
                         text=True, timeout=10, check=True).stdout
    windows = []
    base = None
    for line in out.splitlines():
        match = _LINE.match(line)
        if not match:
            continue
        indent = len(match["indent"])
        base = indent if base is None else base
        name = match["name"]
        windows.append(Window(int(match["id"], 16), None if name.startswith("(") else name[1:-1],
                              int(match["x"]), int(match["y"]), int(match["w"]), int(match["h"]),
                              (indent - base) // 3))
    return windows


def attributes(display: str, window: int) -> dict[str, str]:
    """``xwininfo -id``'s fields: "Map State", "Override Redirect State", "Width", …"""
    out = subprocess.run(["xwininfo", "-display", display, "-id", hex(window)],
                         capture_output=True, text=True, timeout=10)
    fields = {}
    for line in out.stdout.splitlines():
        key, sep, value = line.strip().partition(": ")
        if sep:
            fields[key] = value.strip()
    return fields


def window_pid(display: str, window: int) -> int | None:
    """_NET_WM_PID (Qt sets it on its windows)."""
    out = subprocess.run(["xprop", "-display", display, "-id", hex(window), "_NET_WM_PID"],
                         capture_output=True, text=True, timeout=10).stdout
    match = re.search(r"= (\d+)", out)
    return int(match[1]) if match else None


def xdotool(display: str, *args: str) -> str:
    return subprocess.run(["xdotool", *args], capture_output=True, text=True, timeout=10,
                          check=True, env=os.environ | {"DISPLAY": display}).stdout


# ------------------------------------------------------------------------------- the tray host

@contextmanager
def trayer(display: str, log_dir: Path) -> Iterator[Window]:
    """trayer as the desktop's system tray, top right; yields its panel window once it owns the
    tray selection (so a tray app started now finds a tray)."""
    log = (log_dir / "trayer.log").open("wb")
    process = subprocess.Popen(
        ["trayer", "--edge", "top", "--align", "right", "--widthtype", "request", "--height", "32",
         "--transparent", "false", "--tint", "0xdddddd", "--SetDockType", "true",
         "--SetPartialStrut", "true"],
        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
        env=os.environ | {"DISPLAY": display})
    try:
        def ready() -> Window | None:
            if process.poll() is not None:
                raise XError(f"trayer exited ({process.returncode}): "
                             f"{(log_dir / 'trayer.log').read_text(errors='replace')}")
            if not selection_owner(display, "_NET_SYSTEM_TRAY_S0"):
                return None
            return next((w for w in tree(display) if w.depth == 0 and w.name == "panel"), None)

        yield wait_for("trayer to own the system tray", ready, 15)
    finally:
        stop(process)
        log.close()


# ------------------------------------------------------------------------------ screenshots

def grab(display: str, out: Path, rect: tuple[int, int, int, int] | None = None) -> Path:
    """A screenshot of the X screen (or of ``rect``: x, y, w, h) as PNG, taken by a Qt helper
    process on that display (QScreen.grabWindow(0): the root window, menus included)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    args = [sys.executable, __file__, "grab", str(out), *(map(str, rect) if rect else [])]
    env = os.environ | {"DISPLAY": display, "QT_QPA_PLATFORM": "xcb"}
    done = subprocess.run(args, capture_output=True, text=True, timeout=60, env=env)
    if done.returncode != 0 or not out.exists():
        raise XError(f"screenshot failed ({done.returncode}): {done.stdout}{done.stderr}")
    return out


def _grab_main(argv: list[str]) -> int:
    from PySide6.QtGui import QGuiApplication

    app = QGuiApplication(sys.argv[:1])
    screen = app.primaryScreen()
    out = argv[0]
    x, y, w, h = (int(v) for v in argv[1:5]) if len(argv) >= 5 else (0, 0, -1, -1)
    pixmap = screen.grabWindow(0, x, y, w, h)
    if pixmap.isNull() or not pixmap.save(out, "PNG"):
        print(f"could not grab the screen into {out}", file=sys.stderr)
        return 1
    print(f"{out}: {pixmap.width()}x{pixmap.height()}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "grab":
        sys.exit(_grab_main(sys.argv[2:]))
    sys.exit("usage: python tests/gui/xvfb.py grab OUT.png [X Y W H]")
