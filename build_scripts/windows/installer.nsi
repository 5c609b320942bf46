; RIMS Utility installer for Windows: NSIS 3, Unicode, Modern UI 2.
;
; Built by build_scripts/nsis.py (`python build_scripts/build.py` on Windows), which runs
;   makensis -WX -INPUTCHARSET UTF8 -DVERSION=<version> -DBUNDLE=<dist\rims-utility>
;            -DOUTFILE=<dist\RIMS-Utility-Setup-<version>.exe> -DROOT=<repo> installer.nsi
; Other defines: APP_EXE (default rims-utility.exe), CLI_EXE (default rims-utility-cli.exe).
; On Linux the same script is compiled over the Linux bundle (APP_EXE=CLI_EXE=rims-utility) as a
; check that it is valid; that output is not a working installer.
;
; For shopkeepers: a per-user install, no administrator password. What it does:
;   * installs the whole PyInstaller bundle into $LOCALAPPDATA\Programs\RIMS Utility (the folder
;     is remembered, so an upgrade lands in the same place) and a Start-menu shortcut;
;   * "Start RIMS Utility when I log in" writes exactly what the app's own Settings write
;     (app/service/autostart.py): the value "RIMS Utility" under HKCU\...\CurrentVersion\Run,
;     data "<folder>\rims-utility.exe" in double quotes, and forgets a Task Manager switch-off
;     (the same-named value under ...\Explorer\StartupApproved\Run);
;   * closes a running copy before installing over it or uninstalling it;
;   * the uninstaller keeps the invoices (%LOCALAPPDATA%\rims-utility) unless asked otherwise:
;     a tick on its page, or /DELETEDATA with /S.
;
; Silent use: `RIMS-Utility-Setup-<version>.exe /S [/D=<folder>]` (the default choices: start at
; login on, no desktop shortcut; an upgrade keeps the current start-at-login choice);
; `"<folder>\uninstall.exe" /S [/DELETEDATA]`.

Unicode true
ManifestDPIAware true
RequestExecutionLevel user  ; per user: never asks for an administrator password
; COMPRESSOR: "/SOLID lzma" (the smallest download, about 30 % of the bundle) unless told
; otherwise; "none" stores the files as they are, for a quick check build (lzma takes a minute
; or two over the whole bundle).
!ifndef COMPRESSOR
  !define COMPRESSOR "/SOLID lzma"
!endif
!if "${COMPRESSOR}" == "none"
  SetCompress off
!else
  SetCompressor ${COMPRESSOR}
!endif

; --- Defines from the command line ----------------------------------------------------------

!ifndef VERSION
  !error "VERSION is not defined: makensis -DVERSION=1.2.3 ... (build_scripts/nsis.py passes it)"
!endif
!ifndef BUNDLE
  !error "BUNDLE is not defined: makensis -DBUNDLE=<the dist\rims-utility folder> ..."
!endif
!ifndef ROOT
  !define ROOT "${__FILEDIR__}\..\.."
!endif
!ifndef OUTFILE
  !define OUTFILE "RIMS-Utility-Setup-${VERSION}.exe"
!endif
!ifndef APP_EXE
  !define APP_EXE "rims-utility.exe"
!endif
!ifndef CLI_EXE
  !define CLI_EXE "rims-utility-cli.exe"
!endif

; VIProductVersion needs four numbers: the first three of VERSION, each read up to its first
; non-digit (0.2.0rc1 -> 0.2.0.0, 1.4 -> 1.4.0.0, 1.2.3+local -> 1.2.3.0). /math reads a number
; with a leading zero as octal; PEP 440 versions as pyproject.toml writes them have none.
!searchparse /noerrors "${VERSION}.0.0.0" "" VI_MAJOR_TEXT "." VI_MINOR_TEXT "." VI_PATCH_TEXT "."
!define /math VI_MAJOR ${VI_MAJOR_TEXT} + 0
!define /math VI_MINOR ${VI_MINOR_TEXT} + 0
!define /math VI_PATCH ${VI_PATCH_TEXT} + 0
!define VI_VERSION "${VI_MAJOR}.${VI_MINOR}.${VI_PATCH}.0"

!define APP_NAME "RIMS Utility"
!define PUBLISHER "The RIMS Utility authors"
!define UNINSTALLER "uninstall.exe"
!define UNINSTALL_KEY "Software\Microsoft\Windows\CurrentVersion\Uninstall\${APP_NAME}"
; The same keys and value name as app/service/autostart.py (RUN_KEY, APPROVED_KEY, APP_NAME).
!define RUN_KEY "Software\Microsoft\Windows\CurrentVersion\Run"
!define APPROVED_KEY "Software\Microsoft\Windows\CurrentVersion\Explorer\StartupApproved\Run"
; platformdirs.user_data_dir("rims-utility", appauthor=False) on Windows (app/settings.py). A
; data folder chosen with RIMS_DATA_DIR or --data-dir is never touched by this installer.
!define DATA_DIR "$LOCALAPPDATA\rims-utility"
!define ICON "${ROOT}\resources\icons\app.ico"

Name "${APP_NAME}"
OutFile "${OUTFILE}"
InstallDir "$LOCALAPPDATA\Programs\${APP_NAME}"
InstallDirRegKey HKCU "${UNINSTALL_KEY}" "InstallLocation"  ; an upgrade goes to the same folder
BrandingText "${APP_NAME} ${VERSION}"

VIProductVersion "${VI_VERSION}"
VIFileVersion "${VI_VERSION}"

!include "MUI2.nsh"
!include "LogicLib.nsh"
!include "Sections.nsh"
!include "FileFunc.nsh"
!include "nsDialogs.nsh"
!include "WinMessages.nsh"

; --- Pages ------------------------------------------------------------------------------------

!define MUI_ICON "${ICON}"
!define MUI_UNICON "${ICON}"
!define MUI_ABORTWARNING
!define MUI_ABORTWARNING_TEXT "Are you sure you want to stop installing RIMS Utility?"
!define MUI_UNABORTWARNING
!define MUI_COMPONENTSPAGE_SMALLDESC

!define MUI_WELCOMEPAGE_TITLE "Welcome to RIMS Utility"
!define MUI_WELCOMEPAGE_TEXT "RIMS Utility sends the invoices from your point-of-sale to KPRA, \
and keeps them safe on this computer until KPRA has received them.$\r$\n$\r$\n\
If RIMS Utility is already running, Setup will close it for a moment. \
No invoices are lost: the ones it has received are already saved.$\r$\n$\r$\n\
Click Next to continue."
!insertmacro MUI_PAGE_WELCOME

!define MUI_LICENSEPAGE_TEXT_TOP "RIMS Utility is free software under the MIT License:"
!define MUI_LICENSEPAGE_TEXT_BOTTOM "You may use it freely. Click Next to continue."
!define MUI_LICENSEPAGE_BUTTON "$(^NextBtn)"
!insertmacro MUI_PAGE_LICENSE "${ROOT}\LICENSE"

!define MUI_DIRECTORYPAGE_TEXT_TOP "Setup will put RIMS Utility in the folder below. It is in your \
own user folder, so no administrator password is needed. Most people keep this folder."
!define MUI_PAGE_CUSTOMFUNCTION_LEAVE CheckFolderWritable
!insertmacro MUI_PAGE_DIRECTORY

!define MUI_PAGE_HEADER_TEXT "Options"
!define MUI_PAGE_HEADER_SUBTEXT "Choose how RIMS Utility starts."
!define MUI_COMPONENTSPAGE_TEXT_TOP "Tick what you would like. You can change starting at login \
later: $\"Start at login$\" in RIMS Utility's menu, or its Settings."
!define MUI_COMPONENTSPAGE_TEXT_COMPLIST "Options:"
!insertmacro MUI_PAGE_COMPONENTS

!insertmacro MUI_PAGE_INSTFILES

!define MUI_FINISHPAGE_TITLE "RIMS Utility is installed"
!define MUI_FINISHPAGE_TEXT "RIMS Utility is ready. The first time it starts, it asks for your \
point-of-sale details (NTN, POS ID and key) and then runs in the corner of the taskbar, \
next to the clock.$\r$\n$\r$\nClick Finish to close Setup."
!define MUI_FINISHPAGE_RUN "$INSTDIR\${APP_EXE}"
!define MUI_FINISHPAGE_RUN_TEXT "Start RIMS Utility now"
!define MUI_FINISHPAGE_NOREBOOTSUPPORT
!insertmacro MUI_PAGE_FINISH

UninstPage custom un.KeepDataPage un.KeepDataPageLeave
!insertmacro MUI_UNPAGE_INSTFILES

!insertmacro MUI_LANGUAGE "English"

VIAddVersionKey /LANG=${LANG_ENGLISH} "ProductName" "${APP_NAME}"
VIAddVersionKey /LANG=${LANG_ENGLISH} "CompanyName" "${PUBLISHER}"
VIAddVersionKey /LANG=${LANG_ENGLISH} "LegalCopyright" "MIT License"
VIAddVersionKey /LANG=${LANG_ENGLISH} "FileDescription" "${APP_NAME} Setup"
VIAddVersionKey /LANG=${LANG_ENGLISH} "FileVersion" "${VERSION}"
VIAddVersionKey /LANG=${LANG_ENGLISH} "ProductVersion" "${VERSION}"

Var DeleteData     ; uninstaller: 1 = also delete the invoices, settings and logs
Var DeleteDataBox  ; uninstaller: its check box

; --- Closing a running copy (installer and uninstaller) ---------------------------------------
;
; The tray app and its writer process (a child started from the same program) are both named
; ${APP_EXE}; `rims-utility-cli.exe serve` may run from a console. Each is asked to close
; (taskkill without /F), given a few seconds, then ended (/F). A forced close loses nothing:
; every invoice is committed to the SQLite database (WAL, synchronous=FULL) before the POS gets
; its answer, and the queue is picked up again at the next start. nsExec runs the commands
; without a console window flashing up.

!macro CLOSE_PROGRAMS UN
Function ${UN}IsRunning  ; program name on the stack -> 1 or 0 on the stack
  Exch $0
  Push $1
  Push $2
  Push $3
  ; /FO CSV: a running copy is a line starting with "<name>" in quotes; otherwise a (translated)
  ; "INFO: No tasks..." line.
  nsExec::ExecToStack '"$SYSDIR\tasklist.exe" /NH /FO CSV /FI "IMAGENAME eq $0"'
  Pop $1  ; exit code
  Pop $1  ; output
  ${Do}  ; past any blank lines
    StrCpy $2 $1 1
    ${If} $2 == "$\r"
    ${OrIf} $2 == "$\n"
    ${OrIf} $2 == " "
      StrCpy $1 $1 "" 1
    ${Else}
      ${Break}
    ${EndIf}
  ${Loop}
  StrLen $2 '"$0"'
  StrCpy $3 $1 $2
  ${If} $3 == '"$0"'
    StrCpy $0 1
  ${Else}
    StrCpy $0 0
  ${EndIf}
  Pop $3
  Pop $2
  Pop $1
  Exch $0
FunctionEnd

Function ${UN}WaitUntilClosed  ; program name on the stack; waits up to five seconds
  Exch $0
  Push $1
  Push $2
  ${For} $2 1 10
    Push $0
    Call ${UN}IsRunning
    Pop $1
    ${IfThen} $1 = 0 ${|} ${Break} ${|}
    Sleep 500
  ${Next}
  Pop $2
  Pop $1
  Pop $0
FunctionEnd

Function ${UN}CloseProgram  ; program name on the stack
  Exch $0
  Push $1
  nsExec::Exec '"$SYSDIR\taskkill.exe" /IM "$0" /T'  ; ask it to close
  Pop $1
  ${If} $1 <> 128  ; 128: none running
    DetailPrint "Closing $0..."
    Push $0
    Call ${UN}WaitUntilClosed
    ; Whatever is left (the writer process has no window to close): end it.
    nsExec::Exec '"$SYSDIR\taskkill.exe" /F /IM "$0" /T'
    Pop $1
    ${If} $1 <> 128
      Push $0
      Call ${UN}WaitUntilClosed
    ${EndIf}
    Sleep 500  ; Windows lets go of a program's files a moment after it ends
  ${EndIf}
  Pop $1
  Pop $0
FunctionEnd

Function ${UN}CloseApp
  Push "${APP_EXE}"
  Call ${UN}CloseProgram
  !if "${CLI_EXE}" != "${APP_EXE}"
    Push "${CLI_EXE}"
    Call ${UN}CloseProgram
  !endif
FunctionEnd
!macroend
!insertmacro CLOSE_PROGRAMS ""
!insertmacro CLOSE_PROGRAMS "un."

; --- Installer --------------------------------------------------------------------------------

; Directory page: a folder this user cannot write to (Program Files, another user's folder)
; needs administrator rights, which this installer never asks for.
Function CheckFolderWritable
  ClearErrors
  CreateDirectory "$INSTDIR"
  FileOpen $0 "$INSTDIR\rims-setup-write-test.tmp" w
  ${If} ${Errors}
    MessageBox MB_OK|MB_ICONEXCLAMATION "RIMS Utility cannot be put in$\r$\n$INSTDIR$\r$\n\
because that folder needs an administrator. Please choose a folder in your own user folder, \
or click Back and Next to use the suggested one."
    Abort
  ${EndIf}
  FileClose $0
  Delete "$INSTDIR\rims-setup-write-test.tmp"
  RMDir "$INSTDIR"  ; only if empty (made just now): the install makes it again
FunctionEnd

Section "RIMS Utility (required)" SecApp
  SectionIn RO
  Call CloseApp
  ; Over an earlier version: its libraries go first, so none of them is left behind.
  ${If} ${FileExists} "$INSTDIR\${APP_EXE}"
    RMDir /r "$INSTDIR\_internal"
  ${EndIf}
  SetOutPath "$INSTDIR"
  File /r "${BUNDLE}\*"
  WriteUninstaller "$INSTDIR\${UNINSTALLER}"
  CreateShortcut "$SMPROGRAMS\${APP_NAME}.lnk" "$INSTDIR\${APP_EXE}" "" \
    "$INSTDIR\${APP_EXE}" 0 SW_SHOWNORMAL "" "Sends your point-of-sale's invoices to KPRA"
SectionEnd

Section "Start RIMS Utility when I log in" SecAutostart
  ; As autostart.enable(): the Run value, and no Task Manager switch-off left over.
  WriteRegStr HKCU "${RUN_KEY}" "${APP_NAME}" '"$INSTDIR\${APP_EXE}"'
  DeleteRegValue HKCU "${APPROVED_KEY}" "${APP_NAME}"
SectionEnd

Section /o "Desktop shortcut" SecDesktop
  CreateShortcut "$DESKTOP\${APP_NAME}.lnk" "$INSTDIR\${APP_EXE}" "" \
    "$INSTDIR\${APP_EXE}" 0 SW_SHOWNORMAL "" "Sends your point-of-sale's invoices to KPRA"
SectionEnd

Section "-Finish"
  ; Unticked options: as autostart.disable(), and no desktop shortcut from an earlier install.
  ${IfNot} ${SectionIsSelected} ${SecAutostart}
    DeleteRegValue HKCU "${RUN_KEY}" "${APP_NAME}"
  ${EndIf}
  ${IfNot} ${SectionIsSelected} ${SecDesktop}
    Delete "$DESKTOP\${APP_NAME}.lnk"
  ${EndIf}

  ; Apps & features (Settings) and Programs and Features (Control Panel), for this user.
  WriteRegStr HKCU "${UNINSTALL_KEY}" "DisplayName" "${APP_NAME}"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "DisplayVersion" "${VERSION}"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "Publisher" "${PUBLISHER}"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "DisplayIcon" "$INSTDIR\${APP_EXE},0"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "InstallLocation" "$INSTDIR"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "UninstallString" '"$INSTDIR\${UNINSTALLER}"'
  WriteRegStr HKCU "${UNINSTALL_KEY}" "QuietUninstallString" '"$INSTDIR\${UNINSTALLER}" /S'
  WriteRegDWORD HKCU "${UNINSTALL_KEY}" "NoModify" 1
  WriteRegDWORD HKCU "${UNINSTALL_KEY}" "NoRepair" 1
  ${GetSize} "$INSTDIR" "/S=0K" $0 $1 $2  ; EstimatedSize is in KB
  IntFmt $0 "0x%08X" $0
  WriteRegDWORD HKCU "${UNINSTALL_KEY}" "EstimatedSize" $0
SectionEnd

; After the sections: it needs their ${Sec...} numbers.
Function .onInit
  SetShellVarContext current
  ; One Setup at a time (a double double-click).
  System::Call 'kernel32::CreateMutex(p 0, i 0, t "RIMSUtilitySetup") p .r1 ?e'
  Pop $0
  ${If} $0 = 183  ; ERROR_ALREADY_EXISTS
    MessageBox MB_OK|MB_ICONINFORMATION "RIMS Utility Setup is already running." /SD IDOK
    Abort
  ${EndIf}
  ; An upgrade keeps the current choices: start at login only if it does now (the user may have
  ; turned it off in Settings), the desktop shortcut if there is one.
  ReadRegStr $0 HKCU "${UNINSTALL_KEY}" "InstallLocation"
  ${If} $0 != ""
    ClearErrors
    ReadRegStr $1 HKCU "${RUN_KEY}" "${APP_NAME}"
    ${If} ${Errors}
      !insertmacro UnselectSection ${SecAutostart}
    ${EndIf}
  ${EndIf}
  ${If} ${FileExists} "$DESKTOP\${APP_NAME}.lnk"
    !insertmacro SelectSection ${SecDesktop}
  ${EndIf}
FunctionEnd

!insertmacro MUI_FUNCTION_DESCRIPTION_BEGIN
  !insertmacro MUI_DESCRIPTION_TEXT ${SecApp} "The program itself."
  !insertmacro MUI_DESCRIPTION_TEXT ${SecAutostart} "Recommended: RIMS Utility must be running \
for your invoices to reach KPRA."
  !insertmacro MUI_DESCRIPTION_TEXT ${SecDesktop} "An icon on the desktop that opens RIMS Utility."
!insertmacro MUI_FUNCTION_DESCRIPTION_END

; --- Uninstaller ------------------------------------------------------------------------------

Function un.onInit
  SetShellVarContext current
  ; /DELETEDATA: also delete the data (the only way to do so with /S; it ticks the box otherwise).
  StrCpy $DeleteData 0
  ${un.GetParameters} $0
  ClearErrors
  ${un.GetOptions} $0 "/DELETEDATA" $1
  ${IfNot} ${Errors}
    StrCpy $DeleteData 1
  ${EndIf}
FunctionEnd

; The one uninstaller page: what goes, what stays, and the choice to delete the data.
; The POS keys in Windows Credential Manager (written by the app through keyring) go with the data:
; the program's own `forget-keys` removes them, while the program is still there to run.
Function un.KeepDataPage
  !insertmacro MUI_HEADER_TEXT "Uninstall RIMS Utility" "Remove RIMS Utility from this computer."
  nsDialogs::Create 1018
  Pop $0
  ${If} $0 == error
    Abort
  ${EndIf}
  ${NSD_CreateLabel} 0 0 100% 80u "RIMS Utility will be removed from $INSTDIR.$\r$\n$\r$\n\
Your invoices, settings and logs are kept in ${DATA_DIR}: if you install RIMS Utility \
again, everything is still there. Keep them unless you are sure you no longer need them: \
they are your record of the invoices sent to KPRA."
  Pop $0
  ${NSD_CreateCheckbox} 0 88u 100% 12u "Also &delete my invoices, settings, logs and POS keys (cannot be undone)"
  Pop $DeleteDataBox
  ${If} $DeleteData = 1
    ${NSD_Check} $DeleteDataBox
  ${EndIf}
  ; This page leads straight to uninstalling: its button says so.
  GetDlgItem $0 $HWNDPARENT 1
  SendMessage $0 ${WM_SETTEXT} 0 "STR:$(^UninstallBtn)"
  nsDialogs::Show
FunctionEnd

Function un.KeepDataPageLeave
  ${NSD_GetState} $DeleteDataBox $0
  ${If} $0 = ${BST_CHECKED}
    ${IfNot} ${Cmd} `MessageBox MB_YESNO|MB_ICONEXCLAMATION|MB_DEFBUTTON2 "Delete all your invoices, settings and logs for good? This cannot be undone." IDYES`
      Abort  ; back to the page, the box still ticked
    ${EndIf}
    StrCpy $DeleteData 1
  ${Else}
    StrCpy $DeleteData 0
  ${EndIf}
FunctionEnd

Section "Uninstall"
  Call un.CloseApp
  ${If} $DeleteData = 1
    DetailPrint "Removing the POS keys from Windows Credential Manager"
    nsExec::ExecToLog '"$INSTDIR\${CLI_EXE}" forget-keys --data-dir "${DATA_DIR}"'
    Pop $0  ; its exit status: 0, or 1 if the keyring refused (the log above says why)
  ${EndIf}
  Delete "$SMPROGRAMS\${APP_NAME}.lnk"
  Delete "$DESKTOP\${APP_NAME}.lnk"
  DeleteRegValue HKCU "${RUN_KEY}" "${APP_NAME}"
  DeleteRegValue HKCU "${APPROVED_KEY}" "${APP_NAME}"
  ; Only what Setup put there: never a blanket RMDir /r of a folder the user may have chosen.
  RMDir /r "$INSTDIR\_internal"
  Delete "$INSTDIR\${APP_EXE}"
  !if "${CLI_EXE}" != "${APP_EXE}"
    Delete "$INSTDIR\${CLI_EXE}"
  !endif
  Delete "$INSTDIR\${UNINSTALLER}"
  RMDir "$INSTDIR"
  DeleteRegKey HKCU "${UNINSTALL_KEY}"
  ${If} $DeleteData = 1
    DetailPrint "Deleting the invoices, settings and logs in ${DATA_DIR}"
    RMDir /r "${DATA_DIR}"
  ${Else}
    DetailPrint "Kept: the invoices, settings and logs in ${DATA_DIR}"
  ${EndIf}
SectionEnd
