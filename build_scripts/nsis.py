"""The Windows installer: build_scripts/windows/installer.nsi compiled by NSIS's makensis over
the one-folder bundle (dist/rims-utility).

    build_installer(bundle, out_dir, version) -> out_dir/RIMS-Utility-Setup-<version>.exe

Over a Windows bundle (rims-utility.exe and rims-utility-cli.exe) that is the real installer.
Over a Linux bundle (one program, `rims-utility`) the same script is compiled as a check that it
is valid, into RIMS-Utility-Setup-<version>-check.exe: a Windows program that installs Linux
files, never to be shipped. makensis runs with -WX: a warning fails the build."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SCRIPT = HERE / "windows" / "installer.nsi"
APP_EXE = "rims-utility.exe"
CLI_EXE = "rims-utility-cli.exe"
LINUX_PROGRAM = "rims-utility"
INSTALL_HELP = ("Install NSIS 3: on Debian or Ubuntu `sudo apt install nsis`; on Windows "
                "`choco install nsis -y`, or the installer from https://nsis.sourceforge.io/Download")


class NsisError(SystemExit):
    """makensis is missing or failed. A SystemExit, so that build.py stops with the message
    alone (no traceback); tests catch it as NsisError."""


def find_makensis() -> Path:
    """makensis on PATH; on Windows also where NSIS's own installer and Chocolatey put it (it
    does not add itself to PATH)."""
    found = shutil.which("makensis")
    if found:
        return Path(found)
    if sys.platform == "win32":
        for variable in ("ProgramFiles(x86)", "ProgramFiles"):
            base = os.environ.get(variable)
            if base and (Path(base) / "NSIS" / "makensis.exe").is_file():
                return Path(base) / "NSIS" / "makensis.exe"
    raise NsisError(f"nsis.py: makensis (NSIS) was not found on PATH. {INSTALL_HELP}")


def installer_name(version: str, check: bool = False) -> str:
    return f"RIMS-Utility-Setup-{version}{'-check' if check else ''}.exe"


def build_installer(bundle: Path, out_dir: Path, version: str, *, compressor: str | None = None,
                    log: Path | None = None) -> Path:
    """Compile the installer for ``bundle`` into ``out_dir``; its path.

    compressor: the script's COMPRESSOR define ("/SOLID lzma" when None, the release setting;
    "none" stores the files, for quick checks). log: where to write makensis's whole output
    (it lists every file it adds). Raises NsisError, with makensis's output, if it fails."""
    bundle = Path(bundle).resolve()
    if (bundle / APP_EXE).is_file():
        app_exe, cli_exe, check = APP_EXE, CLI_EXE, False
    elif (bundle / LINUX_PROGRAM).is_file():  # a Linux bundle: the check build
        app_exe, cli_exe, check = LINUX_PROGRAM, LINUX_PROGRAM, True
    else:
        raise NsisError(f"nsis.py: {bundle} holds neither {APP_EXE} nor {LINUX_PROGRAM}: "
                        "not a bundle (build it with build_scripts/build.py)")
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    output = out_dir / installer_name(version, check)
    defines = {"VERSION": version, "BUNDLE": str(bundle), "OUTFILE": str(output), "ROOT": str(ROOT),
               "APP_EXE": app_exe, "CLI_EXE": cli_exe}
    if compressor is not None:
        defines["COMPRESSOR"] = compressor
    # "-" options: makensis takes them on every OS ("/" only on Windows). -V4: every file it adds
    # is listed (in the log); -WX: a warning is an error.
    command = [str(find_makensis()), "-V4", "-WX", "-INPUTCHARSET", "UTF8",
               *(f"-D{name}={value}" for name, value in defines.items()), str(SCRIPT)]
    output.unlink(missing_ok=True)  # no stale installer left to look like a success
    result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, check=False)
    text = result.stdout.decode("utf-8", errors="replace")
    if log is not None:
        Path(log).write_text(text, encoding="utf-8")
    if result.returncode != 0 or not output.is_file():
        tail = "\n".join(text.splitlines()[-80:])
        raise NsisError(f"nsis.py: makensis failed (exit status {result.returncode}) compiling "
                        f"{SCRIPT}:\n{tail}")
    return output
