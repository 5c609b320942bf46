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

Depends is worked out from the bundle: `ldd` on every ELF file in it, as the program runs it
(the bootloader starts once with the system's libraries, then re-executes itself with
LD_LIBRARY_PATH=_internal), and `dpkg -S` for each library found outside the bundle. So a
clean machine gets exactly the system libraries this build needs; the versions are the build
machine's (build on the oldest Debian/Ubuntu you support). Standard library only."""

import fnmatch
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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

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

# Not libraries, so ldd cannot see them, but the bundle cannot work without them:
DATA_DEPENDS = [
    "ca-certificates",   # the bundled OpenSSL checks KPRA's HTTPS certificate against these
    "fontconfig-config",  # /etc/fonts for the bundled fontconfig, and (through it) a font
]
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

# Bundled ELF files the program can run without: Qt skips a plugin it cannot load. These are
# the display systems other than X11 (Wayland, EGLFS/KMS, VNC, framebuffer...), input methods,
# image formats, printing and TLS back-ends, and the Qt libraries only those plugins use. A
# library of theirs that the build machine lacks is reported, not fatal; anything else missing
# stops the build (the package would install and then fail to start).
OPTIONAL_ELF = [
    "*Qt/plugins/*",
    "*Qt/lib/libQt6Wayland*",
    "*Qt/lib/libQt6WlShellIntegration*",
    "*Qt/lib/libQt6EglFS*",
    "*Qt/lib/libQt6EglFs*",
]
REQUIRED_PLUGINS = [
    "*Qt/plugins/platforms/libqxcb.so",        # X11, and Wayland sessions through XWayland
    "*Qt/plugins/platforms/libqoffscreen.so",  # no screen at all (tests, `doctor`)
]


class DebError(Exception):
    """The package could not be made; the message says what and why."""


@dataclass
class LibraryScan:
    """What the bundle's ELF files need from the system."""
    needed_by: dict[str, set[str]] = field(default_factory=dict)  # system library -> ELF files
    missing: dict[str, set[str]] = field(default_factory=dict)    # bundled ELF -> sonames not found

    def optional_missing(self) -> dict[str, set[str]]:
        return {elf: names for elf, names in self.missing.items() if is_optional(elf)}

    def required_missing(self) -> dict[str, set[str]]:
        return {elf: names for elf, names in self.missing.items() if not is_optional(elf)}


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
    _report_missing(scan)
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


# --- what the bundle needs from the system -----------------------------------------------------


def scan_libraries(bundle: Path) -> LibraryScan:
    """ldd over every ELF file of the bundle, with the library path the program runs with."""
    bundle = bundle.resolve()
    contents = bundle / "_internal" if (bundle / "_internal").is_dir() else bundle
    elves = [path for path in sorted(bundle.rglob("*")) if _is_elf(path)]
    # The bootloader (the programs at the top) first starts with the caller's environment and
    # links against the system's libraries; it then re-executes itself with
    # LD_LIBRARY_PATH=_internal, with which everything else is loaded.
    runs = [(elf, None) for elf in elves if elf.parent == bundle]
    runs += [(elf, str(contents)) for elf in elves]
    scan = LibraryScan()
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        for elf, found, missing in pool.map(lambda run: _ldd(*run), runs):
            name = elf.relative_to(bundle).as_posix()
            for library in found:
                if not Path(library).resolve().is_relative_to(bundle):
                    scan.needed_by.setdefault(library, set()).add(name)
            if missing:
                scan.missing.setdefault(name, set()).update(missing)
    return scan


def is_optional(elf: str) -> bool:
    """Whether the program runs without this bundled ELF file (a path relative to the bundle)."""
    if any(fnmatch.fnmatch(elf, pattern) for pattern in REQUIRED_PLUGINS):
        return False
    return any(fnmatch.fnmatch(elf, pattern) for pattern in OPTIONAL_ELF)


_LDD_LINE = re.compile(r"^\s*(?P<name>\S+)(?:\s+=>\s+(?P<path>.*?))?(?:\s+\(0x[0-9a-f]+\))?\s*$")


def _ldd(elf: Path, library_path: str | None) -> tuple[Path, list[str], list[str]]:
    """(elf, libraries found by absolute path, sonames not found)."""
    env = {key: value for key, value in os.environ.items() if key != "LD_LIBRARY_PATH"}
    if library_path:
        env["LD_LIBRARY_PATH"] = library_path
    try:
        done = subprocess.run(["ldd", str(elf)], capture_output=True, text=True, env=env, timeout=60)
    except FileNotFoundError as why:
        raise DebError("ldd is missing (Debian package libc-bin)") from why
    except subprocess.TimeoutExpired as why:
        raise DebError(f"ldd {elf} did not finish within 60 s") from why
    text = done.stdout + done.stderr
    if done.returncode != 0:
        if "not a dynamic executable" in text:  # another architecture's or a static file
            return elf, [], []
        raise DebError(f"ldd {elf} failed ({done.returncode}): {text.strip()}")
    found, missing = [], []
    for line in done.stdout.splitlines():
        match = _LDD_LINE.match(line)
        if not match or "statically linked" in line:
            continue
        name, path = match["name"], match["path"]
        if path == "not found":
            missing.append(name)
        elif path:
            found.append(path)
        elif name.startswith("/"):  # the dynamic loader: "/lib64/ld-linux-x86-64.so.2 (0x...)"
            found.append(name)
        # else: the vDSO (linux-vdso.so.1), which is the kernel's
    return elf, found, missing


def _is_elf(path: Path) -> bool:
    if path.is_symlink() or not path.is_file():
        return False
    with path.open("rb") as file:
        return file.read(4) == b"\x7fELF"


def _report_missing(scan: LibraryScan) -> None:
    def listing(missing: dict[str, set[str]]) -> str:
        return "\n".join(f"  {elf}: {', '.join(sorted(names))}" for elf, names in sorted(missing.items()))

    optional = scan.optional_missing()
    if optional:
        print("deb: WARNING: these optional Qt parts need libraries this machine does not have; "
              "they will not load on machines without them either (Qt skips them):\n"
              + listing(optional), file=sys.stderr)
    required = scan.required_missing()
    if required:
        raise DebError("libraries not found for parts of the bundle the program needs (install "
                       "them on the build machine, then build again):\n" + listing(required))


# --- system libraries -> Debian packages ---------------------------------------------------------


def depends_for(scan: LibraryScan) -> list[str]:
    """The Depends entries: the packages of the system libraries found, versioned, then the
    data packages; Essential packages are left out (Policy 3.5)."""
    owners: set[str] = set()
    unowned = []
    for library in sorted(scan.needed_by):
        owner = package_of(library)
        if owner is None:
            unowned.append(library)
        else:
            owners.add(owner)
    if unowned:
        users = {lib: sorted(scan.needed_by[lib])[:3] for lib in unowned}
        raise DebError("these system libraries belong to no Debian package (built by hand, or "
                       "under /usr/local?), so a clean machine would lack them:\n"
                       + "\n".join(f"  {lib} (needed by {', '.join(u)})" for lib, u in users.items()))
    entries = []
    for owner in sorted(owners):
        alternatives = []
        for qualified in owner.split(" | "):
            name = qualified.split(":")[0]
            version, essential = _installed(qualified)
            if essential:
                break
            alternatives.append(f"{name} (>= {upstream_version(version)})" if version else name)
        else:
            entries.append(" | ".join(alternatives))
    return entries + [name for name in DATA_DEPENDS if name not in entries]


_owner_cache: dict[str, str | None] = {}


def package_of(library: str) -> str | None:
    """The package owning the library file, arch-qualified as dpkg says it ("libc6:amd64"), or
    "a | b" if several do; None if none does. Debian 12 has merged /usr, but dpkg knows each file
    by the path its package ships it under: /lib/x86_64-linux-gnu/libc.so.6, not /usr/lib/..."""
    for path in _path_candidates(library):
        if path not in _owner_cache:
            done = subprocess.run(["dpkg", "-S", path], capture_output=True, text=True)
            owner = None
            if done.returncode == 0:
                for line in done.stdout.splitlines():
                    if line.startswith("diversion by "):
                        continue
                    packages, _, found = line.partition(": ")
                    if found == path:
                        owner = " | ".join(p.strip() for p in packages.split(","))
                        break
            _owner_cache[path] = owner
        if _owner_cache[path]:
            return _owner_cache[path]
    return None


def _path_candidates(library: str) -> list[str]:
    paths = [library, os.path.realpath(library)]
    for path in list(paths):
        if path.startswith("/usr/"):
            paths.append(path[len("/usr"):])
        elif path.startswith(("/lib", "/bin/", "/sbin/")):
            paths.append("/usr" + path)
    return list(dict.fromkeys(paths))


def _installed(package: str) -> tuple[str, bool]:
    """(version, Essential) of an installed package."""
    done = subprocess.run(["dpkg-query", "-W", "-f", "${Version}\t${Essential}\n", package],
                          capture_output=True, text=True)
    if done.returncode != 0 or not done.stdout.strip():
        raise DebError(f"dpkg-query -W {package} failed: {done.stderr.strip()}")
    version, _, essential = done.stdout.splitlines()[0].partition("\t")
    return version, essential.strip() == "yes"


def upstream_version(version: str) -> str:
    """A Debian version without its Debian revision ("1:1.2.13.dfsg-1" -> "1:1.2.13.dfsg")."""
    return version.rsplit("-", 1)[0] if "-" in version else version


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
        "others, with shared libraries from Debian). Each keeps its own licence; the licence "
        "files that come with them are in that folder.", 76)
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
