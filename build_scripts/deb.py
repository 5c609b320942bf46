"""The Debian package: rims-utility_<version>_<arch>.deb from the frozen one-folder bundle.

    from deb import build_deb
    build_deb(Path("dist/rims-utility"), Path("dist"), "0.1.0")  # -> the .deb's path

What it installs (`dpkg -i`; `dpkg -r`/`-P` take all of it away again):
  /opt/rims-utility/                         the bundle, as PyInstaller made it (dirs and programs
                                             0755, other files 0644, all root:root)
  /usr/bin/rims-utility                      -> /opt/rims-utility/rims-utility (the bootloader
                                             finds its folder through /proc/self/exe, so the
                                             link works; sys.executable is the /opt path)
  /usr/share/applications/rims-utility.desktop        the menu entry
  /usr/share/icons/hicolor/<n>x<n>/apps/rims-utility.png, scalable/apps/rims-utility.svg
  /usr/share/rims-utility/autostart/rims-utility.desktop
                                             start at login for EVERY user, off: an
                                             administrator copies it into /etc/xdg/autostart
  /usr/share/doc/rims-utility/               copyright (DEP-5), changelog.Debian.gz, README.Debian
  DEBIAN/control, DEBIAN/md5sums             (`dpkg --verify rims-utility` checks the files)

No maintainer scripts: dpkg's triggers already refresh the icon cache and the desktop database,
and there is nothing else to do. The app turns "start at login" on per user itself
(~/.config/autostart, app/service/autostart.py), and keeps its data in each user's home
(~/.local/share/rims-utility): dpkg never touches home folders, so removing or purging the
package leaves every shop's invoices and settings where they are.

Depends is worked out from the bundle by deb_depends.py (ldd, then dpkg -S). Standard library
only."""

import gzip
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

from deb_depends import DebError, depends_for, report_missing, scan_libraries

__all__ = ["DebError", "build_deb", "debian_version"]

NAME = "rims-utility"
APP_NAME = "RIMS Utility"
PREFIX = f"/opt/{NAME}"
PROGRAM = f"{PREFIX}/{NAME}"
ROOT = Path(__file__).resolve().parent.parent
LICENSE = ROOT / "LICENSE"
# Policy 3.3: a name and an address that reaches the maintainer. DEBFULLNAME/DEBEMAIL are the
# variables Debian's own tools (dch, debmake) read; the default is a placeholder.
MAINTAINER_NAME = os.environ.get("DEBFULLNAME") or "RIMS Utility maintainers"
MAINTAINER_EMAIL = os.environ.get("DEBEMAIL") or "maintainers@rims-utility.invalid"
SUMMARY = "Sends your till's invoices to KPRA"
# The same entry app/service/autostart.py writes for one user, with the installed program.
AUTOSTART_COMMENT = "Forwards the point-of-sale's invoices to KPRA RIMS"

# Recommends (installed by default by apt, but the package still installs without them):
RECOMMENDS = [
    # The Secret Service keyring where POS keys are kept (keyring -> SecretService over D-Bus).
    # Any desktop's provider will do (KeePassXC, KWallet 6), so it is not a hard dependency;
    # without one the app refuses to store keys and says so.
    "gnome-keyring",
    # A D-Bus session bus for the user, on which the tray app finds the keyring and the tray
    # (every desktop session has one; a minimal or remote session may not).
    "dbus-user-session | dbus-x11",
]

# xz, which every dpkg reads, at level 1. Measured on a 213 MB bundle (2 cores): -z1 69 MB in
# 11 s; dpkg-deb's default -z6 62 MB in 93 s; zstd -z19 67 MB in 51 s (and Debian 11's dpkg
# cannot read zstd).
COMPRESSION = ["-Zxz", "-z1"]

def build_deb(bundle: Path, out_dir: Path, version: str) -> Path:
    """Make out_dir/rims-utility_<version>_<arch>.deb from the bundle; its path."""
    bundle = Path(bundle).resolve()
    program = bundle / NAME
    if not program.is_file():
        raise DebError(f"{program} is missing: is {bundle} a PyInstaller bundle of {NAME}?")
    deb_version = debian_version(version)
    arch = _output(["dpkg", "--print-architecture"]).strip()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{NAME}_{deb_version}_{arch}.deb"

    scan = scan_libraries(bundle)
    report_missing(scan)
    depends = depends_for(scan)

    with tempfile.TemporaryDirectory(prefix="rims-deb-", dir=out_dir) as temporary:
        root = Path(temporary) / "root"
        _stage(root, bundle, deb_version)
        control = control_text(deb_version, arch, depends, installed_size_kib(root))
        _write(root / "DEBIAN" / "control", control)
        _write(root / "DEBIAN" / "md5sums", md5sums(root))
        _normalise_modes(root)
        built = subprocess.run(["dpkg-deb", "--build", "--root-owner-group", *COMPRESSION,
                                str(root), str(target)], capture_output=True, text=True)
        if built.returncode != 0:
            raise DebError(f"dpkg-deb --build failed ({built.returncode}):\n"
                           f"{built.stdout}{built.stderr}")
    print(f"deb: Depends: {', '.join(depends)}", file=sys.stderr)
    return target


def debian_version(version: str) -> str:
    """The project's (PEP 440) version as a Debian version: pre-releases sort before the
    release with "~" (0.2.0rc1 -> 0.2.0~rc1, 0.2.0.dev3 -> 0.2.0~dev3)."""
    public, plus, local = version.strip().partition("+")
    converted = re.sub(r"(?<=\d)[.-]?(alpha|beta|rc|a|b|dev)(\d*)", r"~\1\2", public) + plus + local
    if not re.fullmatch(r"[0-9][A-Za-z0-9.+~]*", converted):
        raise DebError(f"cannot make a Debian version of {version!r}")
    return converted


# --- the files ------------------------------------------------------------------------------------


def _stage(root: Path, bundle: Path, deb_version: str) -> None:
    shutil.copytree(bundle, root / PREFIX.lstrip("/"), symlinks=True)
    usr_bin = root / "usr" / "bin"
    usr_bin.mkdir(parents=True)
    (usr_bin / NAME).symlink_to(PROGRAM)  # absolute: /usr and /opt are different top-level dirs

    share = root / "usr" / "share"
    _write(share / "applications" / f"{NAME}.desktop", menu_entry())
    _write(share / NAME / "autostart" / f"{NAME}.desktop", autostart_entry())
    for entry in (share / "applications" / f"{NAME}.desktop",
                  share / NAME / "autostart" / f"{NAME}.desktop"):
        _validate_desktop_entry(entry)

    icons = _resources(bundle) / "icons"
    pngs = sorted(icons.glob("app-*.png"))
    if not pngs or not (icons / "app.svg").is_file():
        raise DebError(f"the app icons (app-<size>.png, app.svg) are missing from {icons}")
    for png in pngs:
        width, height = _png_size(png)
        if png.stem != f"app-{width}" or width != height:
            raise DebError(f"{png} is {width}x{height}: the hicolor theme needs app-<n>.png at n x n")
        _copy(png, share / "icons" / "hicolor" / f"{width}x{width}" / "apps" / f"{NAME}.png")
    _copy(icons / "app.svg", share / "icons" / "hicolor" / "scalable" / "apps" / f"{NAME}.svg")

    doc = share / "doc" / NAME
    _write(doc / "copyright", copyright_text())
    _write(doc / "README.Debian", README_DEBIAN)
    (doc / "changelog.Debian.gz").write_bytes(
        gzip.compress(changelog_text(deb_version).encode(), compresslevel=9, mtime=0))  # gzip -9n


def _resources(bundle: Path) -> Path:
    for candidate in (bundle / "_internal" / "resources", bundle / "resources"):
        if candidate.is_dir():
            return candidate
    raise DebError(f"no resources/ folder in {bundle} (the spec collects it)")


def _png_size(png: Path) -> tuple[int, int]:
    head = png.read_bytes()[:24]
    if head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        raise DebError(f"{png} is not a PNG file")
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def _normalise_modes(root: Path) -> None:
    """Directories 0755; files 0755 if executable for anyone, else 0644; links as they are.
    (The owner is root:root in the package whatever it is here: --root-owner-group.)"""
    for folder, _dirs, files in os.walk(root):
        os.chmod(folder, 0o755)
        for name in files:
            path = os.path.join(folder, name)
            if os.path.islink(path):
                continue
            mode = os.stat(path).st_mode
            os.chmod(path, 0o755 if mode & 0o111 else 0o644)


def installed_size_kib(root: Path) -> int:
    """Installed-Size as dpkg-gencontrol counts it: each file's size rounded up to KiB, and
    1 KiB for every directory and symbolic link."""
    total = 0
    for path in root.rglob("*"):
        if path.relative_to(root).parts[0] == "DEBIAN":
            continue
        if path.is_symlink() or path.is_dir():
            total += 1
        else:
            total += (path.stat().st_size + 1023) // 1024
    return total


def md5sums(root: Path) -> str:
    """DEBIAN/md5sums: what `dpkg --verify` checks the installed files against."""
    lines = []
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root).as_posix()
        if relative.startswith("DEBIAN/") or path.is_symlink() or not path.is_file():
            continue
        digest = hashlib.md5(usedforsecurity=False)
        with path.open("rb") as file:
            while chunk := file.read(1 << 20):
                digest.update(chunk)
        lines.append(f"{digest.hexdigest()}  {relative}\n")
    return "".join(lines)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)


def _validate_desktop_entry(path: Path) -> None:
    if shutil.which("desktop-file-validate") is None:
        return  # the tests check it (Debian package desktop-file-utils)
    done = subprocess.run(["desktop-file-validate", str(path)], capture_output=True, text=True)
    if done.returncode != 0 or done.stdout.strip():
        raise DebError(f"{path.name} is not a valid desktop entry:\n{done.stdout}{done.stderr}")


def _output(command: list[str]) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True)
    except FileNotFoundError as why:
        raise DebError(f"{command[0]} is missing: building a .deb needs Debian's dpkg") from why
    if done.returncode != 0:
        raise DebError(f"{' '.join(command)} failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


# --- the texts ------------------------------------------------------------------------------------


def menu_entry() -> str:
    return "\n".join([
        "[Desktop Entry]",
        "Type=Application",
        "Version=1.0",  # desktop-file-validate 0.26 (Debian 12) knows no 1.5
        f"Name={APP_NAME}",
        "GenericName=Tax Invoice Forwarder",
        f"Comment={SUMMARY}",
        f"Exec={NAME}",
        f"Icon={NAME}",
        "Terminal=false",
        "Categories=Office;Finance;",
        "Keywords=KPRA;RIMS;invoice;tax;sales tax;POS;point of sale;till;receipt;QR;",
        # Off: started again from the menu, the app brings its running window forward from the
        # first process and the new one exits, so no window would ever answer the notification
        # (a busy cursor until the desktop gives up).
        "StartupNotify=false",
        f"StartupWMClass={APP_NAME}",  # Qt's WM_CLASS: ("rims-utility", "RIMS Utility")
        "",
    ])


def autostart_entry() -> str:
    """The entry app/service/autostart.py writes for one user, for all users (the icon by its
    theme name): an administrator copies it into /etc/xdg/autostart. A user's own entry has the
    same file name, so it takes this one's place and the app is not started twice."""
    return "\n".join([
        "[Desktop Entry]",
        "Type=Application",
        "Version=1.0",
        f"Name={APP_NAME}",
        f"Comment={AUTOSTART_COMMENT}",
        f"Exec={PROGRAM}",
        f"Icon={NAME}",
        "Terminal=false",
        "X-GNOME-Autostart-enabled=true",
        "",
    ])


DESCRIPTION = f"""\
{SUMMARY}
 RIMS Utility runs quietly on the shop's computer, next to the till
 (point-of-sale). The till hands it each sale's invoice; RIMS Utility keeps
 it safely on this computer, sends it to the Khyber Pakhtunkhwa Revenue
 Authority (KPRA RIMS), tries again by itself when the internet is down,
 and gives the till the QR code to print on the receipt.
 .
 Open "RIMS Utility" from the applications menu to enter your POS details;
 the key is kept in the desktop's keyring. To have it start when you log
 in, choose "Start at login" in its tray menu or settings. To start it
 for every user of this computer, an administrator copies
 /usr/share/rims-utility/autostart/rims-utility.desktop into
 /etc/xdg/autostart/.
 .
 Removing the package leaves each user's invoices and settings
 (~/.local/share/rims-utility) in place."""


def control_text(version: str, arch: str, depends: list[str], installed_size: int) -> str:
    fields = [
        ("Package", NAME),
        ("Version", version),
        ("Architecture", arch),
        ("Maintainer", f"{MAINTAINER_NAME} <{MAINTAINER_EMAIL}>"),
        ("Installed-Size", str(installed_size)),
        ("Depends", ", ".join(depends)),
        ("Recommends", ", ".join(RECOMMENDS)),
        ("Section", "misc"),
        ("Priority", "optional"),
        ("Description", DESCRIPTION),
    ]
    return "".join(f"{key}: {value}\n" for key, value in fields)


def copyright_text() -> str:
    try:
        license_text = LICENSE.read_text(encoding="utf-8")
    except OSError as why:
        raise DebError(f"could not read the licence {LICENSE}: {why}") from why
    holder = re.search(r"^Copyright (?:\(c\) )?(.+)$", license_text, re.MULTILINE | re.IGNORECASE)
    if not license_text.startswith("MIT License") or holder is None:
        raise DebError(f"{LICENSE} is not the MIT licence text this package describes")
    # The licence's own text after its title and copyright line (DEP-5: a blank line is " .").
    body = license_text.split(holder.group(0), 1)[1].strip("\n")
    license_lines = "\n".join(f" {line}" if line.strip() else " ." for line in body.splitlines())
    bundled = textwrap.fill(
        f"{PREFIX}/_internal holds the Python runtime and the libraries the program was frozen "
        "with by PyInstaller (Python, Qt for Python, OpenSSL, aiohttp, cryptography, keyring and "
        "others, with shared libraries from Debian). Each keeps its own licence: "
        f"{PREFIX}/THIRD-PARTY-NOTICES.txt names each with its licence and its licence "
        "text.", 76)
    comment = "\n".join(f" {line}" for line in bundled.splitlines())
    return (
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n"
        f"Upstream-Name: {APP_NAME}\n"
        f"Upstream-Contact: {MAINTAINER_NAME} <{MAINTAINER_EMAIL}>\n"
        f"Comment:\n{comment}\n"
        "\n"
        "Files: *\n"
        f"Copyright: {holder.group(1).strip()}\n"
        "License: Expat\n"
        f"{license_lines}\n"
    )


def changelog_text(version: str) -> str:
    epoch = int(os.environ.get("SOURCE_DATE_EPOCH") or time.time())
    date = format_datetime(datetime.fromtimestamp(epoch, UTC))  # "Sat, 21 Nov 2026 10:00:00 +0000"
    return (f"{NAME} ({version}) unstable; urgency=medium\n\n"
            f"  * {APP_NAME} {version}, packaged from its PyInstaller bundle.\n\n"
            f" -- {MAINTAINER_NAME} <{MAINTAINER_EMAIL}>  {date}\n")


README_DEBIAN = f"""\
RIMS Utility for Debian
=======================

The program is installed in {PREFIX}/ (a self-contained folder: Python and Qt
come with it) and run as `rims-utility` (/usr/bin/rims-utility links to it).
`rims-utility doctor` checks that everything it needs is in place.

Start at login
--------------
Each user turns this on in the app: "Start at login" in the tray menu, or
"Start RIMS Utility when I log in to this computer" in Settings. That writes
~/.config/autostart/rims-utility.desktop, which runs {PROGRAM}:
the same path after every upgrade of this package.

The package itself starts nothing at login. To start RIMS Utility for every
user of this computer, as an administrator:

    cp /usr/share/rims-utility/autostart/rims-utility.desktop /etc/xdg/autostart/

A user's own entry has the same name, so it replaces this one for that user:
the app is never started twice. Remove the copy in /etc/xdg/autostart to stop.

Keys and data
-------------
POS keys are kept in the desktop's keyring (GNOME Keyring or another Secret
Service). Invoices, settings, logs and backups are kept per user in
~/.local/share/rims-utility. Removing or purging the package never touches
them (dpkg does not look into home folders); delete that folder yourself if
you want them gone.
"""


def _main(argv: Iterable[str]) -> int:
    args = list(argv)
    if len(args) != 3:
        print("usage: python build_scripts/deb.py BUNDLE OUT_DIR VERSION", file=sys.stderr)
        return 2
    try:
        print(build_deb(Path(args[0]), Path(args[1]), args[2]))
    except DebError as why:
        print(f"deb: {why}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
