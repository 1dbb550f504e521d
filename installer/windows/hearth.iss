; Inno Setup script: a per-user install of the Hearth folder that PyInstaller made on Windows.
;
;   pyinstaller installer\pyinstaller\hearth.spec --distpath build\dist --workpath build\work
;   python installer\pyinstaller\trim.py build\dist\Hearth
;   iscc /DAppVersion=0.1.0 installer\windows\hearth.iss      (Inno Setup 6)
;
; Writes dist\Hearth-<version>-windows-x64-setup.exe. No administrator rights are needed: Hearth
; goes to %LOCALAPPDATA%\Programs\Hearth with a Start-menu entry. The uninstaller removes the
; program and keeps the user's data folder (%LOCALAPPDATA%\Hearth, or the folder chosen in
; Preferences) unless the user ticks the box that asks to delete it too.

#ifndef AppVersion
  #define AppVersion "0.1.0"
#endif

[Setup]
AppId={{6B1D7C1E-3C1B-4C55-9F44-6E2A9B1F0C11}
AppName=Hearth
AppVersion={#AppVersion}
AppPublisher=Hearth developers
DefaultDirName={localappdata}\Programs\Hearth
DefaultGroupName=Hearth
DisableProgramGroupPage=yes
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputDir=..\..\dist
OutputBaseFilename=Hearth-{#AppVersion}-windows-x64-setup
Compression=lzma2/fast
SolidCompression=no
WizardStyle=modern
UninstallDisplayIcon={app}\hearth.exe
SetupIconFile=hearth.ico

[InstallDelete]
; an upgrade replaces the program folder whole: no old libraries or metadata left beside the new
Type: filesandordirs; Name: "{app}\_internal"

[Files]
Source: "..\..\build\dist\Hearth\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{group}\Hearth"; Filename: "{app}\hearth.exe"
Name: "{group}\Uninstall Hearth"; Filename: "{uninstallexe}"
Name: "{userdesktop}\Hearth"; Filename: "{app}\hearth.exe"; Tasks: desktopicon

[Tasks]
Name: "desktopicon"; Description: "Create a desktop shortcut"; Flags: unchecked

[Run]
Filename: "{app}\hearth.exe"; Description: "Start Hearth"; Flags: nowait postinstall skipifsilent

[Code]
var
  DeleteData: Boolean;

function DataFolder(): String;
begin
  Result := ExpandConstant('{localappdata}\Hearth');
end;

procedure CurUninstallStepChanged(CurUninstallStep: TUninstallStep);
begin
  if CurUninstallStep = usUninstall then
    DeleteData := DirExists(DataFolder()) and
      (MsgBox('Also delete your Hearth data (models, documents, datasets, runs) in ' + DataFolder() +
              '? Choose No to keep it for a later install.', mbConfirmation, MB_YESNO or MB_DEFBUTTON2) = IDYES);
  if (CurUninstallStep = usPostUninstall) and DeleteData then
    DelTree(DataFolder(), True, True, True);
end;
