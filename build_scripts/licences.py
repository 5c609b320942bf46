"""THIRD-PARTY-NOTICES.txt in the bundle: who wrote what the installers ship, under which licence,
with the licence texts. The .deb and the Windows installer carry it (it is a file of the bundle).

    write_notices(bundle) -> bundle/THIRD-PARTY-NOTICES.txt

What is in a bundle, and where its notice comes from:
  * the Python packages the program runs on (rims-utility[gui] and what they require): their
    metadata (License-Expression, License, classifiers) and the licence files they ship;
  * Python itself: the LICENSE.txt of the interpreter that built the bundle (on Windows it also
    covers the OpenSSL, SQLite, libffi... DLLs that come with Python);
  * Qt, through PySide6, whose wheel ships no licence file: the LGPL-3.0 and GPL-3.0 texts kept
    in build_scripts/licences/ (Qt is used under the LGPL-3.0: dynamically linked, unmodified);
  * on Linux, the system libraries PyInstaller copied from the build machine: the copyright file
    of the Debian package each came from (dpkg -S).
`unattributed()` lists any bundled library none of these covers (the tests require none)."""

import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
NOTICES = "THIRD-PARTY-NOTICES.txt"
LICENCE_TEXTS = Path(__file__).resolve().parent / "licences"  # LGPL-3.0, GPL-3.0 (for Qt)
LICENCE_FILE = re.compile(r"(LICEN[CS]E|COPYING|NOTICE|AUTHORS)", re.IGNORECASE)
QT_DISTRIBUTIONS = {"pyside6-essentials", "shiboken6"}


def _key(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def distributions(root: str = "rims-utility", extras: tuple[str, ...] = ("gui",)) -> dict:
    """{normalised name: Distribution} of ``root`` with ``extras`` and everything it requires,
    as installed (markers evaluated for this platform)."""
    found: dict[str, metadata.Distribution] = {}
    todo = [(root, set(extras))]
    while todo:
        name, wanted = todo.pop()
        if _key(name) in found:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue  # a requirement for another platform or Python
        found[_key(name)] = dist
        for line in dist.requires or []:
            requirement = Requirement(line)
            if requirement.marker and not any(
                    requirement.marker.evaluate({"extra": extra}) for extra in (wanted or {""})):
                continue
            todo.append((requirement.name, set(requirement.extras)))
    return found


def _licence_line(dist: metadata.Distribution) -> str:
    meta = dist.metadata
    named = meta.get("License-Expression") or ""
    if not named and meta.get("License") and len(meta["License"]) < 200:
        named = meta["License"]
    classifiers = [c.split(" :: ")[-1] for c in meta.get_all("Classifier") or []
                   if c.startswith("License ::")]
    return named or ", ".join(classifiers) or "see the licence text below"


def _licence_texts(dist: metadata.Distribution) -> list[tuple[str, str]]:
    if _key(dist.metadata["Name"]) == "rims-utility":
        return [("LICENSE", (ROOT / "LICENSE").read_text(encoding="utf-8"))]
    texts = []
    for file in dist.files or []:
        if ".dist-info" in str(file) and LICENCE_FILE.search(Path(str(file)).name):
            path = Path(dist.locate_file(file))
            texts.append((str(file), path.read_text(encoding="utf-8", errors="replace")))
    return texts


def python_licence() -> Path:
    for candidate in (Path(sys.base_prefix) / "LICENSE.txt",
                      Path(sys.base_prefix) / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
                      / "LICENSE.txt",
                      Path("/usr/share/doc") / f"python{sys.version_info[0]}.{sys.version_info[1]}"
                      / "copyright"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"Python's licence text was not found under {sys.base_prefix}")


def system_libraries(bundle: Path) -> dict[str, str | None]:
    """Linux: {library file name: Debian package} for every library PyInstaller copied into the
    top of _internal/ from the system (not a link into a wheel's folder, not libpython)."""
    internal = bundle / "_internal"
    found: dict[str, str | None] = {}
    if not sys.platform.startswith("linux") or not internal.is_dir():
        return found
    from_wheels = {Path(str(file)).name for dist in distributions().values()
                   for file in dist.files or []}
    for path in sorted(internal.iterdir()):
        if ".so" not in path.name or path.is_symlink() or path.name.startswith("libpython") \
                or path.name in from_wheels:  # a package's own module (covered above)
            continue
        done = subprocess.run(["dpkg", "-S", f"*/{path.name}"], capture_output=True, text=True)
        owner = None
        for line in done.stdout.splitlines():
            package, _, where = line.partition(": ")
            if not line.startswith("diversion") and Path(where).name == path.name:
                owner = package.split(",")[0].split(":")[0].strip()
                break
        found[path.name] = owner
    return found


def unattributed(bundle: Path) -> list[str]:
    return [name for name, owner in system_libraries(bundle).items() if owner is None]


def write_notices(bundle: Path) -> Path:
    out: list[str] = [
        "RIMS Utility: third-party software in this program",
        "=" * 50, "",
        "RIMS Utility itself is under the MIT License (below, with rims-utility). It is built",
        "from the following software, each under its own licence. Qt is used under the GNU",
        "LGPL 3.0: its libraries are separate files in this folder (_internal/PySide6/Qt/lib) that",
        "you may replace with your own build of the same version. Sources: https://download.qt.io",
        "and https://code.qt.io/cgit/pyside/pyside-setup.git (PySide6, same version).", "",
    ]

    def section(title: str, licence: str, texts: list[tuple[str, str]]) -> None:
        out.extend(["-" * 78, f"{title}", f"Licence: {licence}", ""])
        for name, text in texts:
            out.extend([f"--- {name}", text.rstrip(), ""])

    for key, dist in sorted(distributions().items()):
        texts = _licence_texts(dist)
        if key in QT_DISTRIBUTIONS:
            texts += [(path.name, path.read_text(encoding="utf-8"))
                      for path in sorted(LICENCE_TEXTS.glob("*.txt"))]
        section(f"{dist.metadata['Name']} {dist.version}", _licence_line(dist), texts)
    python = python_licence()
    section(f"Python {sys.version.split()[0]}", "PSF-2.0 (and the notices of the libraries it "
            "ships with)", [(python.name, python.read_text(encoding="utf-8", errors="replace"))])
    libraries = system_libraries(bundle)
    by_package: dict[str, list[str]] = {}
    for name, package in libraries.items():
        if package:
            by_package.setdefault(package, []).append(name)
    for package, names in sorted(by_package.items()):
        copyright_file = Path("/usr/share/doc") / package / "copyright"
        text = copyright_file.read_text(encoding="utf-8", errors="replace") \
            if copyright_file.is_file() else "(no copyright file on the build machine)"
        section(f"Debian package {package}: {', '.join(names)}", "see its copyright file",
                [(str(copyright_file), text)])
    target = bundle / NOTICES
    target.write_text("\n".join(out) + "\n", encoding="utf-8")
    return target
