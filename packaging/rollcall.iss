; Inno Setup 6 script: the Windows installer of Rollcall, from the PyInstaller bundle dist\Rollcall\.
;
;   pyinstaller build.spec --noconfirm         (makes dist\Rollcall\Rollcall.exe, rollcall-train.exe, _internal\)
;   iscc packaging\rollcall.iss                (makes dist\installer\Rollcall-<version>-setup.exe)
;   iscc /DAppVersion=0.2.0 packaging\rollcall.iss   (another version number)
;
; Installs to {autopf}\Rollcall (C:\Program Files\Rollcall; %LOCALAPPDATA%\Programs\Rollcall when
; installed for the current user only), adds a Start-menu entry, optionally a desktop icon, and an
; uninstaller. Uninstalling removes the program files only: the operator's data folder
; %LOCALAPPDATA%\Rollcall (rollcall.db, desktop.json, window.ini, rollcall.log, training runs, the
; Cache of converted weights, models copied there) is kept unless the operator answers Yes when asked.
; A silent uninstall (/SILENT, /VERYSILENT) keeps it unless /PURGEDATA is given as well.
; See docs/PACKAGING.md.

#ifndef AppVersion
  #define AppVersion "0.1.0"
#endif
#define AppName "Rollcall"
#define AppExe "Rollcall.exe"
; Relative paths are relative to this file's folder (packaging\).
#define DistDir "..\dist\Rollcall"

[Setup]
; Keep this AppId for every version: it is how an update finds the installed copy.
AppId={{6E1B3C52-8F2D-4C0B-9A57-3D1E2B7F4A90}
AppName={#AppName}
AppVersion={#AppVersion}
AppVerName={#AppName} {#AppVersion}
AppPublisher=Rollcall
DefaultDirName={autopf}\{#AppName}
DefaultGroupName={#AppName}
DisableProgramGroupPage=yes
; Administrators install for everyone (Program Files); others may choose "only for me".
PrivilegesRequired=admin
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
MinVersion=10.0
OutputDir=..\dist\installer
OutputBaseFilename={#AppName}-{#AppVersion}-setup
Compression=lzma2/max
SolidCompression=yes
; A CUDA build whose compressed files exceed 4.2 GB needs DiskSpanning=yes (Setup-*.bin slices).
WizardStyle=modern
UninstallDisplayIcon={app}\{#AppExe}
UninstallDisplayName={#AppName}
CloseApplications=yes

[Languages]
Name: "english"; MessagesFile: "compiler:Default.isl"

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[InstallDelete]
; An update replaces the whole bundle: files of the previous version must not linger in _internal.
Type: filesandordirs; Name: "{app}\_internal"

[Files]
Source: "{#DistDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{group}\{#AppName}"; Filename: "{app}\{#AppExe}"; WorkingDir: "{app}"
Name: "{group}\{cm:UninstallProgram,{#AppName}}"; Filename: "{uninstallexe}"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\{#AppExe}"; WorkingDir: "{app}"; Tasks: desktopicon

[Run]
Filename: "{app}\{#AppExe}"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent

[UninstallDelete]
Type: dirifempty; Name: "{app}"

[Code]
function DataFolder(): String;
begin
  { desktop/core: core.paths.user_data_dir() on Windows }
  Result := ExpandConstant('{localappdata}\{#AppName}');
end;

function PurgeDataRequested(): Boolean;
var
  I: Integer;
begin
  Result := False;
  for I := 1 to ParamCount do
    if CompareText(ParamStr(I), '/PURGEDATA') = 0 then
      Result := True;
end;

procedure CurUninstallStepChanged(CurUninstallStep: TUninstallStep);
var
  Folder: String;
  Remove: Boolean;
begin
  if CurUninstallStep <> usPostUninstall then
    Exit;
  Folder := DataFolder();
  if not DirExists(Folder) then
    Exit;
  if UninstallSilent() then
    Remove := PurgeDataRequested()
  else
    Remove := MsgBox('Rollcall has been removed. Do you also want to delete your Rollcall data?' + #13#10 + #13#10 +
                     Folder + #13#10 + #13#10 +
                     'It holds the database of enrolled people and attendance (rollcall.db), the settings, ' +
                     'the log and the training runs. Choose No to keep it for a later installation. ' +
                     'A data folder chosen elsewhere in Settings is never deleted.',
                     mbConfirmation, MB_YESNO or MB_DEFBUTTON2) = IDYES;
  if not Remove then
  begin
    Log('Keeping the data folder ' + Folder);
    Exit;
  end;
  if not DelTree(Folder, True, True, True) then
  begin
    Log('Could not delete all of ' + Folder);
    if not UninstallSilent() then
      MsgBox('Some files in ' + Folder + ' could not be deleted (is Rollcall still running?). ' +
             'Delete the folder by hand.', mbError, MB_OK);
  end;
end;
