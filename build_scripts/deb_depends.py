"""What the frozen bundle needs from the system, as Debian Depends: `ldd` on every ELF file in
it, as the program runs it (the bootloader starts once with the system's libraries, then
re-executes itself with LD_LIBRARY_PATH=_internal), and `dpkg -S` for each library found outside
the bundle. The versions are the build machine's (build on the oldest Debian/Ubuntu you
support). Used by deb.py; standard library only."""

import fnmatch
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path


class DebError(Exception):
    """The package could not be made; the message says what and why."""


# Not libraries, so ldd cannot see them, but the bundle cannot work without them:
DATA_DEPENDS = [
    "ca-certificates",   # the bundled OpenSSL checks KPRA's HTTPS certificate against these
    "fontconfig-config",  # /etc/fonts for the bundled fontconfig, and (through it) a font
]
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


@dataclass
class LibraryScan:
    """What the bundle's ELF files need from the system."""
    needed_by: dict[str, set[str]] = field(default_factory=dict)  # system library -> ELF files
    missing: dict[str, set[str]] = field(default_factory=dict)    # bundled ELF -> sonames not found

    def optional_missing(self) -> dict[str, set[str]]:
        return {elf: names for elf, names in self.missing.items() if is_optional(elf)}

    def required_missing(self) -> dict[str, set[str]]:
        return {elf: names for elf, names in self.missing.items() if not is_optional(elf)}


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


def report_missing(scan: LibraryScan) -> None:
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
