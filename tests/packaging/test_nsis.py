"""The Windows installer script (build_scripts/windows/installer.nsi), compiled by NSIS's makensis
through build_scripts/nsis.py with warnings as errors.

PyInstaller cannot build Windows programs here, so the script is compiled over the real Linux
bundle (conftest.py builds it once per run) into a "-check" installer, with files stored rather
than compressed (lzma takes a minute and a half over the 190 MB here); and over a small
stand-in of the Windows bundle's layout with the release settings (lzma). What is checked is
what makensis produced and reported: a Windows program asking for no administrator rights, with
every file of the bundle inside, and the registry values and folders the app itself uses
(app/service/autostart.py, app/settings.py). Running the installer is the Windows workflow's job
(.github/workflows/windows-installer.yml)."""

import re
import struct
import time
from dataclasses import dataclass
from pathlib import Path

import nsis  # build_scripts/nsis.py (conftest.py puts build_scripts on sys.path)
import platformdirs
import platformdirs.windows
import pytest

from app import settings
from app.service import autostart
from tests.conftest import add_figures

HEADER_BYTES = 1 << 20  # the installer's own program (headers, resources) comes first


@dataclass(frozen=True)
class Compiled:
    exe: Path
    log: str  # makensis -V4: every command and every file it added
    seconds: float


def compile_installer(bundle: Path, out_dir: Path, version: str, **options: object) -> Compiled:
    log = out_dir / "makensis.log"
    started = time.monotonic()
    exe = nsis.build_installer(bundle, out_dir, version, log=log, **options)
    return Compiled(exe, log.read_text(encoding="utf-8"), time.monotonic() - started)


@pytest.fixture(scope="module")
def check_build(bundle: Path, version: str, tmp_path_factory: pytest.TempPathFactory,
                pytestconfig: pytest.Config) -> Compiled:
    """The script compiled over the real (Linux) bundle, files stored."""
    compiled = compile_installer(bundle, tmp_path_factory.mktemp("nsis"), version,
                                 compressor="none")
    add_figures(pytestconfig, f"NSIS check installer: compiled in {compiled.seconds:.1f} s, "
                              f"{compiled.exe.stat().st_size / 1e6:.0f} MB (files stored)")
    return compiled


@pytest.fixture(scope="module")
def windows_layout(tmp_path_factory: pytest.TempPathFactory) -> Compiled:
    """The script compiled as for Windows (both programs, the release compressor) over a
    stand-in bundle with the Windows layout: the script's Windows-only branches compile too."""
    base = tmp_path_factory.mktemp("nsis-windows")
    bundle = base / "rims-utility"
    (bundle / "_internal" / "resources" / "web").mkdir(parents=True)
    (bundle / nsis.APP_EXE).write_bytes(b"MZ stand-in for the tray app")
    (bundle / nsis.CLI_EXE).write_bytes(b"MZ stand-in for the console twin")
    (bundle / "_internal" / "resources" / "web" / "dashboard.html").write_text("<html></html>")
    return compile_installer(bundle, base / "out", "1.4rc2")


def pe_header(exe: Path) -> bytes:
    """The installer's first megabyte, after checking it is a 32-bit x86 Windows program (an
    NSIS installer's stub is one whatever the machine it was compiled on)."""
    with exe.open("rb") as file:
        head = file.read(HEADER_BYTES)
    assert head[:2] == b"MZ", f"{exe} is not a Windows program (no MZ header)"
    (pe_offset,) = struct.unpack_from("<I", head, 0x3C)
    assert head[pe_offset:pe_offset + 4] == b"PE\0\0", f"{exe}: no PE header at {pe_offset:#x}"
    (machine,) = struct.unpack_from("<H", head, pe_offset + 4)
    assert machine == 0x014C, f"{exe}: machine {machine:#06x}, not x86"
    return head


def fixed_version(head: bytes) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(file version, product version) from the VS_FIXEDFILEINFO of the version resource."""
    at = head.find(struct.pack("<I", 0xFEEF04BD))
    assert at >= 0, "no version resource"
    _, _, file_ms, file_ls, product_ms, product_ls = struct.unpack_from("<6I", head, at)

    def numbers(ms: int, ls: int) -> tuple[int, ...]:
        return ms >> 16, ms & 0xFFFF, ls >> 16, ls & 0xFFFF

    return numbers(file_ms, file_ls), numbers(product_ms, product_ls)


def four_numbers(version: str) -> tuple[int, ...]:
    """What the script makes of a PEP 440 version: its first three numbers, then 0."""
    parts = [int(re.match(r"\d*", part).group() or 0) for part in version.split("+")[0].split(".")]
    return (*[*parts, 0, 0, 0][:3], 0)


def blocks(log: str) -> dict[str, list[str]]:
    """makensis's listing of each section and function, by name ("Uninstall", "un.onInit")."""
    found: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in log.splitlines():
        start = re.match(r'(?:Section|Function): "([^"]+)"', line)
        if start:
            current = found.setdefault(start.group(1), [])
        elif line in ("SectionEnd", "FunctionEnd"):
            current = None
        elif current is not None:
            current.append(line)
    return found


def added_files(log: str, bundle: Path) -> set[str]:
    """The bundle's files makensis says it added (File /r lists each, folder by folder)."""
    files: set[str] = set()
    folder = bundle
    for line in log.splitlines():
        moved = re.match(r'File: (?:Descending|Returning) to: "(.*)"$', line)
        if moved:
            folder = Path(moved.group(1))
            continue
        added = re.match(r'File: "([^"]+)" ', line)
        if added and "->" not in line:  # not a plug-in DLL ("nsExec.dll"->"$PLUGINSDIR\...")
            files.add((folder / added.group(1)).relative_to(bundle).as_posix())
    return files


def nsis_size_floor(bundle: Path) -> int:
    """The bundle's size, links not counted (makensis stores a linked file's bytes once)."""
    return sum(f.stat().st_size for f in bundle.rglob("*") if f.is_file() and not f.is_symlink())


# --- The script over the real bundle --------------------------------------------------------


def test_the_script_compiles_over_the_frozen_bundle(check_build: Compiled, bundle: Path,
                                                    version: str):
    exe = check_build.exe
    assert exe.name == f"RIMS-Utility-Setup-{version}-check.exe"  # never mistaken for the real one
    head = pe_header(exe)
    # RequestExecutionLevel user: the manifest asks Windows for no elevation (no UAC prompt).
    assert b'<requestedExecutionLevel level="asInvoker"' in head
    assert fixed_version(head) == (four_numbers(version), four_numbers(version))
    assert f"{version}\0".encode("utf-16-le") in head  # ProductVersion, as written
    # Stored, not compressed: the bundle's bytes are all in there (identical files only once).
    assert exe.stat().st_size > 0.9 * nsis_size_floor(bundle)


def test_every_file_of_the_bundle_goes_in(check_build: Compiled, bundle: Path):
    expected = {f.relative_to(bundle).as_posix() for f in bundle.rglob("*") if f.is_file()}
    added = added_files(check_build.log, bundle)
    assert "rims-utility" in added
    assert {"_internal/resources/web/dashboard.html", "_internal/resources/web/login.html",
            "_internal/resources/icons/app-256.png"} <= added
    assert added == expected, (f"missing: {sorted(expected - added)[:10]}, "
                               f"unexpected: {sorted(added - expected)[:10]}")
    # makensis's own count of the bytes it took in, before it stored identical blocks once.
    raw = re.search(r"^Install data: +(?:\d+ / )?\(?(\d+)\)? bytes", check_build.log, re.MULTILINE)
    assert raw, "no 'Install data' line in makensis's summary"
    assert int(raw.group(1)) >= sum(f.stat().st_size for f in bundle.rglob("*") if f.is_file())


# --- The script as for Windows (stand-in bundle, release compressor) --------------------------


def test_the_windows_build_uses_the_release_settings(windows_layout: Compiled):
    assert windows_layout.exe.name == "RIMS-Utility-Setup-1.4rc2.exe"
    assert "Using lzma (compress whole) compression." in windows_layout.log
    head = pe_header(windows_layout.exe)
    assert b'<requestedExecutionLevel level="asInvoker"' in head
    # VIProductVersion needs four numbers: 1.4rc2 -> 1.4.0.0; the text keeps the whole version.
    assert fixed_version(head) == ((1, 4, 0, 0), (1, 4, 0, 0))
    assert "1.4rc2\0".encode("utf-16-le") in head
    assert re.search(r'^InstallDir: "\$LOCALAPPDATA\\Programs\\RIMS Utility"$', windows_layout.log,
                     re.MULTILINE)
    assert (r"InstallRegKey: "
            r'"HKCU\Software\Microsoft\Windows\CurrentVersion\Uninstall\RIMS Utility\InstallLocation"'
            in windows_layout.log)


def test_start_at_login_is_what_the_app_itself_writes(windows_layout: Compiled):
    """Ticked, the installer writes the app's own Run value (Settings then shows it on), and
    forgets a Task Manager switch-off as autostart.enable() does; unticked and on uninstall, it
    removes the value as autostart.disable() does."""
    code = blocks(windows_layout.log)
    program = rf"$INSTDIR\{nsis.APP_EXE}"
    run_value = rf"HKCU\{autostart.RUN_KEY}\{autostart.APP_NAME}"
    approved_value = rf"HKCU\{autostart.APPROVED_KEY}\{autostart.APP_NAME}"
    written = f"WriteRegStr: {run_value}={autostart.windows_command_line([program])}"
    assert code["Start RIMS Utility when I log in"] == [written, f"DeleteRegValue: {approved_value}"]
    assert f"DeleteRegValue: {run_value}" in code["-Finish"]  # unticked
    assert {f"DeleteRegValue: {run_value}", f"DeleteRegValue: {approved_value}"} <= set(
        code["Uninstall"])
    assert any(line.startswith(f'CreateShortcut: "$SMPROGRAMS\\RIMS Utility.lnk"->"{program}"')
               for line in code["RIMS Utility (required)"])


def test_both_programs_are_closed_before_installing_and_uninstalling(windows_layout: Compiled):
    code = blocks(windows_layout.log)
    for prefix in ("", "un."):
        pushed = [line for line in code[f"{prefix}CloseApp"] if line.startswith("Push: ")]
        assert pushed == [f"Push: {nsis.APP_EXE}", f"Push: {nsis.CLI_EXE}"]
        closing = "\n".join(code[f"{prefix}CloseProgram"])
        assert 'Exec "$SYSDIR\\taskkill.exe" /IM "$0" /T' in closing  # asked first,
        assert 'Exec "$SYSDIR\\taskkill.exe" /F /IM "$0" /T' in closing  # then forced
    assert code["RIMS Utility (required)"][1] == 'Call "CloseApp"'  # before a single file
    assert code["Uninstall"][0] == 'Call "un.CloseApp"'


def test_the_uninstaller_keeps_the_invoices_unless_asked(windows_layout: Compiled,
                                                          monkeypatch: pytest.MonkeyPatch):
    # Where the app keeps its data on Windows: app.settings's own call, answered by platformdirs's
    # Windows rules (%LOCALAPPDATA% given through platformdirs's override variable).
    local = "C:\\Users\\shop\\AppData\\Local"
    monkeypatch.setenv("WIN_PD_OVERRIDE_LOCAL_APPDATA", local)
    monkeypatch.delenv("RIMS_DATA_DIR", raising=False)
    monkeypatch.setattr(platformdirs, "PlatformDirs", platformdirs.windows.Windows)
    data_dir = str(settings.default_data_dir())
    assert data_dir.startswith(local)
    data_dir = "$LOCALAPPDATA\\" + data_dir[len(local):].strip("/\\").replace("/", "\\")
    assert data_dir == "$LOCALAPPDATA\\rims-utility"

    code = blocks(windows_layout.log)
    touching = {name for name, lines in code.items() if any(data_dir in line for line in lines)}
    assert touching <= {"Uninstall", "un.KeepDataPage"}  # the installer never touches the data
    steps = code["Uninstall"]
    deleting = [i for i, line in enumerate(steps) if line.startswith("RMDir: /r")]
    assert [steps[i] for i in deleting] == ['RMDir: /r "$INSTDIR\\_internal"',
                                            f'RMDir: /r "{data_dir}"']  # never all of $INSTDIR
    # The data goes only inside an If (no Else or EndIf between it and the data's RMDir)...
    opened = max(i for i in range(deleting[1]) if steps[i] == "!insertmacro: _If")
    assert not {"!insertmacro: _Else", "!insertmacro: _EndIf"} & set(steps[opened:deleting[1]])
    # ...on $DeleteData, 0 unless /DELETEDATA is given or the (unticked) box is ticked.
    assert 'StrCpy $DeleteData "0" () ()' in code["un.onInit"]
    assert 'StrCpy $DeleteData "1" () ()' in code["un.onInit"]  # /DELETEDATA
    assert 'StrCpy $DeleteData "1" () ()' in code["un.KeepDataPageLeave"]
    # The POS keys go with the data, through the program's forget-keys, before its files go.
    forget = next(i for i, line in enumerate(steps) if "forget-keys" in line)
    opened = max(i for i in range(forget) if steps[i] == "!insertmacro: _If")
    assert not {"!insertmacro: _Else", "!insertmacro: _EndIf"} & set(steps[opened:forget])
    source = nsis.SCRIPT.read_text(encoding="utf-8").splitlines()
    call = next(i for i, line in enumerate(source) if "ExecToLog" in line and "forget-keys" in line)
    condition = next(line for line in reversed(source[:call]) if "${If}" in line)
    assert condition.strip() == "${If} $DeleteData = 1", condition
    assert forget < deleting[0], "forget-keys must run while the program is still installed"


# --- nsis.py itself ---------------------------------------------------------------------------


def test_a_warning_fails_the_build_with_makensis_output(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch):
    script = tmp_path / "warns.nsi"
    script.write_text('Unicode true\nOutFile "${OUTFILE}"\nFunction neverCalled\nFunctionEnd\n'
                      "Section\nSectionEnd\n", encoding="utf-8")
    monkeypatch.setattr(nsis, "SCRIPT", script)
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "rims-utility").write_bytes(b"stand-in")
    with pytest.raises(nsis.NsisError) as failed:
        nsis.build_installer(bundle, tmp_path / "out", "0.0.1")
    message = str(failed.value)
    assert "makensis failed" in message
    assert "not referenced" in message  # makensis's own words, shown
    assert not (tmp_path / "out" / "RIMS-Utility-Setup-0.0.1-check.exe").exists()


def test_a_missing_makensis_says_how_to_install_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(nsis.NsisError) as failed:
        nsis.find_makensis()
    assert "apt install nsis" in str(failed.value)
    assert "choco install nsis" in str(failed.value)


def test_a_folder_that_is_not_a_bundle_is_refused(tmp_path: Path):
    with pytest.raises(nsis.NsisError, match="not a bundle"):
        nsis.build_installer(tmp_path, tmp_path / "out", "0.0.1")
