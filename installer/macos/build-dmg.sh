#!/usr/bin/env bash
# macOS: Hearth.app and a .dmg from a source checkout, on an Apple-silicon Mac (PyTorch publishes
# no Intel-Mac wheels of recent versions).
#
#   installer/macos/build-dmg.sh            # dist/Hearth-<version>-macos-<arch>.dmg, unsigned
#   SIGN_ID="Developer ID Application: NAME (TEAMID)" NOTARY_PROFILE=hearth installer/macos/build-dmg.sh
#
# Signing and notarisation (for whoever holds the Developer ID certificate):
#   1. Import the "Developer ID Application" certificate into the login keychain.
#   2. Once: xcrun notarytool store-credentials hearth --apple-id ID --team-id TEAMID
#      (an app-specific password) -- NOTARY_PROFILE names that keychain profile.
#   3. Run this script with SIGN_ID and NOTARY_PROFILE set: every Mach-O file inside the app is
#      signed with the hardened runtime (installer/macos/entitlements.plist allows the JIT-free
#      library loading torch and llama.cpp need), the .dmg is submitted with notarytool --wait
#      and the ticket stapled. Gatekeeper then opens it without warnings.
set -euo pipefail
cd "$(dirname "$0")/../.."
version=$(sed -n 's/^__version__ = "\(.*\)"/\1/p' engine/__init__.py)
arch=$(uname -m)
python3 -m venv build/venv
build/venv/bin/pip install --quiet torch==2.13.0 . pyinstaller
build/venv/bin/python -m PyInstaller installer/pyinstaller/hearth.spec --noconfirm \
  --distpath build/dist --workpath build/work
build/venv/bin/python installer/pyinstaller/trim.py build/dist/Hearth.app
app=build/dist/Hearth.app
if [[ -n ${SIGN_ID:-} ]]; then
  find "$app" -type f \( -name "*.dylib" -o -name "*.so" -o -perm -u+x \) -print0 |
    xargs -0 codesign --force --timestamp --options runtime \
      --entitlements installer/macos/entitlements.plist --sign "$SIGN_ID"
  codesign --force --timestamp --options runtime --entitlements installer/macos/entitlements.plist \
    --sign "$SIGN_ID" "$app"
fi
mkdir -p dist
dmg=dist/Hearth-$version-macos-$arch.dmg
rm -f "$dmg"
hdiutil create -volname Hearth -srcfolder "$app" -ov -format UDZO "$dmg"
if [[ -n ${SIGN_ID:-} && -n ${NOTARY_PROFILE:-} ]]; then
  codesign --sign "$SIGN_ID" --timestamp "$dmg"
  xcrun notarytool submit "$dmg" --keychain-profile "$NOTARY_PROFILE" --wait
  xcrun stapler staple "$dmg"
fi
HEARTH_HOME=$(mktemp -d) "$app/Contents/MacOS/hearth" --smoke-test  # a fresh data folder
echo "$dmg"
