"""The Debian package (build_scripts/deb.py), made from the fresh frozen bundle: its control data
and files as dpkg-deb shows them, then installed for real with `dpkg -i`, run from where it
installs (--version, doctor, the shared smoke test), removed and purged, leaving nothing behind.

Installing needs root, or `sudo -n` (no password prompt). A machine that already has
rims-utility installed is left alone: the test fails and says so instead of replacing it."""

import gzip
import hashlib
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import deb  # build_scripts/deb.py (tests/packaging/conftest.py puts build_scripts on sys.path)
import deb_depends
import pytest

from app.service import autostart
from tests.conftest import add_figures
from tests.packaging.smoke import isolated_env, run_smoke

pytestmark = pytest.mark.timeout(600)

INSTALLED = Path("/usr/bin/rims-utility")
PREFIX = Path("/opt/rims-utility")
PROGRAM = PREFIX / "rims-utility"
DOC = "/usr/share/doc/rims-utility"
MENU_ENTRY = "/usr/share/applications/rims-utility.desktop"
AUTOSTART_ENTRY = "/usr/share/rims-utility/autostart/rims-utility.desktop"


# --- the package, built once for this module ------------------------------------------------------


@pytest.fixture(scope="module")
def package(bundle: Path, version: str, tmp_path_factory: pytest.TempPathFactory,
            pytestconfig: pytest.Config) -> Path:
    out = tmp_path_factory.mktemp("deb")
    started = time.monotonic()
    made = deb.build_deb(bundle, out, version)
    seconds = time.monotonic() - started
    assert made.parent == out and made.is_file(), made
    add_figures(pytestconfig,
                f".deb: {made.name}, {made.stat().st_size / 1e6:.0f} MB, built in {seconds:.0f} s",
                f".deb Depends: {control_of(made)['Depends']}")
    return made


def control_of(package: Path) -> dict[str, str]:
    """The control file's fields (continuation lines joined with newlines)."""
    text = _run(["dpkg-deb", "--field", str(package)]).stdout
    fields: dict[str, str] = {}
    key = ""
    for line in text.splitlines():
        if line[:1] in (" ", "\t"):
            fields[key] += "\n" + line[1:]
        else:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return fields


class Entry:
    """A line of `dpkg-deb --contents`: mode, owner, size, path (absolute), link target."""

    def __init__(self, line: str):
        self.mode, self.owner, size, _date, _time, rest = line.split(maxsplit=5)
        self.size = int(size)
        self.target = None
        if self.mode.startswith("l"):
            rest, _, self.target = rest.partition(" -> ")
        self.path = rest[1:].rstrip("/") or "/"  # "./usr/bin/" -> "/usr/bin"


def contents_of(package: Path) -> dict[str, Entry]:
    lines = _run(["dpkg-deb", "--contents", str(package)]).stdout.splitlines()
    entries = [Entry(line) for line in lines]
    return {entry.path: entry for entry in entries}


def _run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, **kwargs)
    assert done.returncode == 0, (f"{' '.join(command)} failed ({done.returncode}):\n"
                                  f"{done.stdout}{done.stderr}")
    return done


def depends_names(field: str) -> set[str]:
    """Every package named in a Depends field (all alternatives), without versions."""
    return {re.sub(r"\s*\(.*\)", "", alternative).strip().split(":")[0]
            for entry in field.split(",") for alternative in entry.split("|")}


# --- what the package says and holds ----------------------------------------------------------


def test_control_fields(package: Path, version: str) -> None:
    control = control_of(package)
    arch = _run(["dpkg", "--print-architecture"]).stdout.strip()
    assert package.name == f"rims-utility_{deb.debian_version(version)}_{arch}.deb"
    assert control["Package"] == "rims-utility"
    assert control["Version"] == deb.debian_version(version)
    assert control["Architecture"] == arch
    assert re.fullmatch(r"[^<>]+ <[^@\s<>]+@[^@\s<>]+>", control["Maintainer"]), control["Maintainer"]
    assert control["Section"] in ("misc", "net")
    assert control["Priority"] == "optional"
    short, _, long = control["Description"].partition("\n")
    assert short == "Sends your till's invoices to KPRA" and "/etc/xdg/autostart" in long
    assert all(len(line) < 80 for line in long.splitlines()), long
    # The bootloader links libc and zlib before it can use its own folder; HTTPS needs the CAs.
    assert {"libc6", "zlib1g", "ca-certificates"} <= depends_names(control["Depends"])
    assert "gnome-keyring" in depends_names(control["Recommends"])

    # Installed-Size: KiB of the files (each rounded up) plus 1 per directory and link.
    entries = contents_of(package).values()
    kib = sum((e.size + 1023) // 1024 if e.mode.startswith("-") else 1 for e in entries)
    assert abs(int(control["Installed-Size"]) - kib) <= 2, (control["Installed-Size"], kib)


def test_no_maintainer_scripts_and_md5sums_cover_every_file(package: Path, tmp_path: Path) -> None:
    _run(["dpkg-deb", "--control", str(package), str(tmp_path / "DEBIAN")])
    assert sorted(p.name for p in (tmp_path / "DEBIAN").iterdir()) == ["control", "md5sums"]
    listed = dict(reversed(line.split("  ", 1)) for line in
                  (tmp_path / "DEBIAN" / "md5sums").read_text().splitlines())
    files = {path.lstrip("/") for path, e in contents_of(package).items() if e.mode.startswith("-")}
    assert set(listed) == files
    _run(["dpkg-deb", "-x", str(package), str(tmp_path / "root")])
    program = "opt/rims-utility/rims-utility"
    assert listed[program] == hashlib.md5((tmp_path / "root" / program).read_bytes()).hexdigest()


def test_files_owners_and_modes(package: Path, bundle: Path) -> None:
    entries = contents_of(package)
    assert {e.owner for e in entries.values()} == {"root/root"}

    link = entries["/usr/bin/rims-utility"]
    assert link.mode.startswith("l") and link.target == str(PROGRAM)
    assert entries[str(PROGRAM)].mode == "-rwxr-xr-x"

    # /opt/rims-utility is the bundle, every file, folder and link of it
    in_bundle = {"/" + p.relative_to(bundle).as_posix() for p in bundle.rglob("*")}
    in_opt = {path[len(str(PREFIX)):] for path in entries if path.startswith(f"{PREFIX}/")}
    assert in_opt == in_bundle
    for path in bundle.rglob("*"):
        entry = entries[f"{PREFIX}/{path.relative_to(bundle).as_posix()}"]
        if path.is_symlink():
            assert entry.mode.startswith("l") and entry.target == os.readlink(path)
        elif path.is_dir():
            assert entry.mode == "drwxr-xr-x", entry.path
        else:
            executable = bool(path.stat().st_mode & 0o111)
            assert entry.mode == ("-rwxr-xr-x" if executable else "-rw-r--r--"), entry.path

    # The rest: menu entry, admin's autostart entry, icons, documents; all 0644 files in 0755 dirs
    sizes = sorted(int(p.stem.split("-")[1]) for p in (bundle / "_internal" / "resources" / "icons")
                   .glob("app-*.png"))
    assert sizes == [16, 22, 24, 32, 48, 64, 128, 256]
    wanted = [MENU_ENTRY, AUTOSTART_ENTRY, f"{DOC}/copyright", f"{DOC}/changelog.Debian.gz",
              f"{DOC}/README.Debian", "/usr/share/icons/hicolor/scalable/apps/rims-utility.svg",
              *(f"/usr/share/icons/hicolor/{n}x{n}/apps/rims-utility.png" for n in sizes)]
    for path in wanted:
        assert entries[path].mode == "-rw-r--r--", path
    outside = {path for path in entries if not path.startswith(f"{PREFIX}/") and
               not entries[path].mode.startswith("d")}
    assert outside == {*wanted, "/usr/bin/rims-utility"}
    assert {e.mode for e in entries.values() if e.mode.startswith("d")} == {"drwxr-xr-x"}


def test_entries_icons_and_documents(package: Path, tmp_path: Path, version: str) -> None:
    root = tmp_path / "root"
    _run(["dpkg-deb", "-x", str(package), str(root)])

    for entry in (MENU_ENTRY, AUTOSTART_ENTRY):
        checked = subprocess.run(["desktop-file-validate", str(root / entry.lstrip("/"))],
                                 capture_output=True, text=True)
        assert checked.returncode == 0 and not checked.stdout.strip(), checked.stdout + checked.stderr

    menu = _keys((root / MENU_ENTRY.lstrip("/")).read_text())
    assert menu["Name"] == "RIMS Utility" and menu["Comment"] == "Sends your till's invoices to KPRA"
    assert (menu["Exec"], menu["Icon"], menu["Terminal"]) == ("rims-utility", "rims-utility", "false")
    assert {"Office", "Finance"} <= set(menu["Categories"].split(";"))
    assert menu["GenericName"] and menu["Keywords"] and "StartupNotify" in menu

    # The administrator's autostart entry is the one the installed app writes for a user
    # (app/service/autostart.py), but for the icon, which it names from the theme.
    shipped = (root / AUTOSTART_ENTRY.lstrip("/")).read_text()
    users = autostart.desktop_entry([str(PROGRAM)])
    assert _keys(shipped) | {"Icon": ""} == _keys(users) | {"Icon": ""}
    assert _keys(shipped)["Icon"] == "rims-utility"

    icons = root / "usr/share/icons/hicolor"
    for png in icons.glob("*x*/apps/rims-utility.png"):
        data = png.read_bytes()
        size = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
        assert f"{size[0]}x{size[1]}" == png.parts[-3], png
    assert b"<svg" in (icons / "scalable/apps/rims-utility.svg").read_bytes()

    doc = root / DOC.lstrip("/")
    copyright_text = (doc / "copyright").read_text()
    assert copyright_text.startswith(
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n")
    assert "\nFiles: *\n" in copyright_text and "\nLicense: Expat\n" in copyright_text
    license_text = (Path(deb.ROOT) / "LICENSE").read_text()
    for line in license_text.splitlines()[4:]:  # the licence itself, after title and copyright
        assert (f" {line}" if line.strip() else " .") in copyright_text.splitlines(), line

    changelog = (doc / "changelog.Debian.gz").read_bytes()
    flags, mtime = changelog[3], int.from_bytes(changelog[4:8], "little")
    assert not flags & 0x08 and mtime == 0, "not gzip -n: a name or a time in the header"
    text = gzip.decompress(changelog).decode()
    assert text.startswith(f"rims-utility ({deb.debian_version(version)}) ")
    assert re.search(r"\n -- .+ <.+>  \w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d \+0000\n$", text), text
    readme = (doc / "README.Debian").read_text()
    assert "/etc/xdg/autostart" in readme and ".local/share/rims-utility" in readme


def _keys(entry: str) -> dict[str, str]:
    lines = entry.splitlines()
    assert lines[0] == "[Desktop Entry]", lines[0]
    return dict(line.split("=", 1) for line in lines[1:] if line and not line.startswith("#"))


# --- what the bundle needs from the system ----------------------------------------------------


def test_depends_cover_every_system_library_the_bundle_needs(package: Path, bundle: Path,
                                                              pytestconfig: pytest.Config) -> None:
    """Worked out differently from deb.py (readelf's NEEDED names and the Depends packages'
    own file lists; no ldd, no `dpkg -S`): every library the bundle's ELF files link that the
    bundle does not carry comes from a package the .deb depends on (or an Essential one). The
    programs at the top of the bundle start before the bootloader points the loader at
    _internal, so everything they link must come from the system."""
    depends = depends_names(control_of(package)["Depends"])
    essential = {line.split()[0] for line in _run(
        ["dpkg-query", "-W", "-f", "${Package} ${Essential}\\n"]).stdout.splitlines()
        if line.endswith(" yes")}
    provided: dict[str, str] = {}
    for name in sorted(depends | essential):
        listing = subprocess.run(["dpkg", "-L", name], capture_output=True, text=True).stdout
        for path in listing.splitlines():
            provided.setdefault(os.path.basename(path), name)

    carried = {p.name for p in bundle.rglob("*")}
    from_system: dict[str, set[str]] = {}
    for elf in (p for p in bundle.rglob("*") if _is_elf(p)):
        relative = elf.relative_to(bundle).as_posix()
        dynamic = _run(["readelf", "-d", "-W", str(elf)]).stdout
        for soname in re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", dynamic):
            if elf.parent == bundle or soname not in carried:
                from_system.setdefault(soname, set()).add(relative)
    assert "libc.so.6" in from_system and "libz.so.1" in from_system  # the bootloader's

    # A library no package ships may only be one this machine lacks altogether, needed only by
    # optional Qt parts (deb.py warns about those and Qt skips them); anything else is a miss.
    on_machine = set(re.findall(r"^\s*(\S+) \(", _run(["ldconfig", "-p"]).stdout, re.MULTILINE))
    uncovered = {soname: sorted(users)[:3] for soname, users in from_system.items()
                 if soname not in provided and (soname in on_machine or
                                                 not all(deb_depends.is_optional(u) for u in users))}
    assert not uncovered, f"needed, but no Depends package ships them: {uncovered}"
    absent = sorted(soname for soname in from_system if soname not in provided)
    if absent:
        add_figures(pytestconfig, f".deb: optional Qt parts need libraries this machine lacks: {absent}")


def test_dpkg_owner_lookup_handles_merged_usr() -> None:
    """Debian 12 merged /usr into /lib, but dpkg knows libc as /lib/<triplet>/libc.so.6: both
    spellings, and the symbolic link's, find the package."""
    ldd = _run(["ldd", "/bin/sh"]).stdout
    libc = re.search(r"libc\.so\.6 => (\S+)", ldd)[1]
    arch = _run(["dpkg", "--print-architecture"]).stdout.strip()
    short = libc.removeprefix("/usr")
    for path in (short, "/usr" + short, os.path.realpath(libc)):
        assert deb_depends.package_of(path) == f"libc6:{arch}", path
    assert deb_depends.package_of("/usr/lib/no-such-library.so.1") is None


@pytest.mark.parametrize(("given", "wanted"), [
    ("0.1.0", "0.1.0"), ("0.2.0rc1", "0.2.0~rc1"), ("1.0.dev3", "1.0~dev3"), ("1.0a2", "1.0~a2"),
    ("1.0+g1a2b", "1.0+g1a2b"), ("1.0.post1", "1.0.post1")])
def test_debian_version(given: str, wanted: str) -> None:
    assert deb.debian_version(given) == wanted


def test_upstream_version() -> None:
    assert deb_depends.upstream_version("2.36-9+deb12u14") == "2.36"
    assert deb_depends.upstream_version("1:1.2.13.dfsg-1") == "1:1.2.13.dfsg"
    assert deb_depends.upstream_version("1.0") == "1.0"


def _is_elf(path: Path) -> bool:
    if path.is_symlink() or not path.is_file():
        return False
    with path.open("rb") as file:
        return file.read(4) == b"\x7fELF"


# --- installed for real -------------------------------------------------------------------------


def _as_root() -> list[str]:
    """The prefix that runs dpkg as root: nothing when we are root, else `sudo -n`."""
    if os.geteuid() == 0:
        return []
    if shutil.which("sudo") and subprocess.run(["sudo", "-n", "true"], capture_output=True).returncode == 0:
        return ["sudo", "-n"]
    pytest.fail("installing the .deb needs root: run the tests as root, or allow `sudo -n dpkg` "
                "for this user (no password prompt)")


def _status() -> str:
    done = subprocess.run(["dpkg-query", "-W", "-f", "${Status}", "rims-utility"],
                          capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 else "not installed"


def test_install_run_remove_purge(package: Path, version: str, tmp_path: Path,
                                  pytestconfig: pytest.Config) -> None:
    root = _as_root()
    if _status() not in ("not installed", "unknown ok not-installed"):
        pytest.fail(f"rims-utility is already on this machine ({_status()}): this test installs "
                    "its own build and purges it afterwards, so it leaves yours alone. Remove it "
                    "first (dpkg -P rims-utility), then run the test again.")
    if os.path.lexists(PREFIX):
        pytest.fail(f"{PREFIX} exists but belongs to no package: move it away first")
    paths = sorted(contents_of(package))
    existed = {path for path in paths if os.path.lexists(path)}

    started = time.monotonic()
    try:
        done = subprocess.run([*root, "dpkg", "-i", str(package)], capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, f"dpkg -i failed ({done.returncode}):\n{done.stdout}{done.stderr}"
        install_s = time.monotonic() - started
        assert _status() == "install ok installed"
        missing = [path for path in paths if not os.path.lexists(path)]
        assert not missing, f"installed, but not there: {missing[:10]}"
        assert os.path.realpath(INSTALLED) == str(PROGRAM)
        verified = subprocess.run(["dpkg", "--verify", "rims-utility"], capture_output=True, text=True)
        assert verified.returncode == 0 and not verified.stdout, verified.stdout + verified.stderr

        work = tmp_path / "run"
        env = isolated_env(work)
        done = subprocess.run([str(INSTALLED), "--version"], capture_output=True, text=True,
                              timeout=60, env=env, cwd=tmp_path)
        assert done.returncode == 0 and done.stdout.strip() == f"rims-utility {version}", done

        # sys.executable of the program run through /usr/bin: the path the app's own "start at
        # login" entry runs (autostart.launch_command() is [sys.executable] when frozen). It
        # must be the /opt path, which every upgrade keeps, and not a temporary or relative one.
        done = subprocess.run([str(INSTALLED), "doctor", "--data-dir", str(work / "doctor"),
                               "--port", "0"], capture_output=True, text=True, timeout=120,
                              env=env, cwd=tmp_path)
        first = done.stdout.splitlines()[0] if done.stdout else ""
        assert first.endswith(f"(installed program {PROGRAM})"), (
            f"doctor's first line should name the program it runs as: {first!r}\n{done.stderr}")

        figures = run_smoke(INSTALLED, tmp_path / "smoke", version)
    finally:
        removed = subprocess.run([*root, "dpkg", "-r", "rims-utility"], capture_output=True,
                                 text=True, timeout=300)
        purged = subprocess.run([*root, "dpkg", "-P", "rims-utility"], capture_output=True,
                                text=True, timeout=300)
        if removed.returncode != 0 or purged.returncode != 0:
            raise AssertionError(  # (a failure above shows too, as the context of this one)
                f"removing the package failed: dpkg -r ({removed.returncode}): {removed.stdout}"
                f"{removed.stderr}\ndpkg -P ({purged.returncode}): {purged.stdout}{purged.stderr}")
    add_figures(pytestconfig, f".deb installed in {install_s:.1f} s; from /usr/bin: first 201 after "
                              f"{figures.first_201_s:.1f} s, synced after {figures.synced_s:.1f} s")

    assert _status() == "not installed"
    done = subprocess.run(["dpkg", "-s", "rims-utility"], capture_output=True, text=True)
    assert done.returncode != 0 and "is not installed" in done.stderr, done
    left = [path for path in paths if path not in existed and os.path.lexists(path)]
    assert not left, f"still there after purge: {left[:20]}"
    assert not os.path.lexists(PREFIX)
    assert all(os.path.isdir(path) for path in existed), "only shared folders were there before"
    assert existed >= {"/", "/usr", "/usr/bin", "/usr/share"}
