#!/usr/bin/env bash
# Builds, signs and notarizes the Forewarn agent .pkg. Runs on a Mac with Xcode's
# command line tools and Rust (both Apple targets). Not run in CI: Apple's SDK
# and signing identities exist only on a Mac.
#
# Usage (from packaging/build.sh macos's output directory, or the repository):
#   DEVELOPER_ID_APP="Developer ID Application: Example (TEAMID)" \
#   DEVELOPER_ID_INSTALLER="Developer ID Installer: Example (TEAMID)" \
#   NOTARY_PROFILE=forewarn-notary \
#   packaging/macos/build-pkg.sh
# NOTARY_PROFILE is a keychain profile made once with:
#   xcrun notarytool store-credentials forewarn-notary --apple-id ... --team-id ... --password ...
# Leave DEVELOPER_ID_* unset for an unsigned test package (not installable by MDM).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [[ -f "$HERE/../../Cargo.toml" ]]; then
    REPO_ROOT="$(cd "$HERE/../.." && pwd)"
else
    REPO_ROOT="${FOREWARN_REPO:?set FOREWARN_REPO to the repository}"
fi
VERSION="$(awk -F'"' '/^\[workspace.package\]/ {in_ws = 1} in_ws && /^version *=/ {print $2; exit}' "$REPO_ROOT/Cargo.toml")"
OUT="${FOREWARN_DIST:-$REPO_ROOT/dist}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# 1. A universal binary (Apple silicon and Intel).
(cd "$REPO_ROOT" &&
    cargo build --release --locked -p forewarn-agent --target aarch64-apple-darwin &&
    cargo build --release --locked -p forewarn-agent --target x86_64-apple-darwin)
mkdir -p "$WORK/payload/usr/local/bin" "$WORK/payload/Library/LaunchDaemons" "$WORK/scripts"
lipo -create -output "$WORK/payload/usr/local/bin/forewarn-agent" \
    "$REPO_ROOT/target/aarch64-apple-darwin/release/forewarn-agent" \
    "$REPO_ROOT/target/x86_64-apple-darwin/release/forewarn-agent"
install -m 0644 "$REPO_ROOT/packaging/macos/com.forewarn.agent.plist" "$WORK/payload/Library/LaunchDaemons/"
install -m 0755 "$REPO_ROOT/packaging/macos/scripts/preinstall" "$REPO_ROOT/packaging/macos/scripts/postinstall" "$WORK/scripts/"
plutil -lint "$WORK/payload/Library/LaunchDaemons/com.forewarn.agent.plist" "$REPO_ROOT/packaging/macos/forewarn-agent-pppc.mobileconfig"

# 2. Sign the binary with the hardened runtime (notarization requires it) and a fixed identifier,
#    which the PPPC profile's code requirement names.
if [[ -n "${DEVELOPER_ID_APP:-}" ]]; then
    codesign --force --options runtime --timestamp --identifier com.forewarn.agent \
        --sign "$DEVELOPER_ID_APP" "$WORK/payload/usr/local/bin/forewarn-agent"
    echo "code requirement for the PPPC profile:"
    codesign -dr - "$WORK/payload/usr/local/bin/forewarn-agent" 2>&1 | sed -n 's/^designated => //p'
fi

# 3. Component package, then a distribution package (what MDMs expect).
pkgbuild --root "$WORK/payload" --scripts "$WORK/scripts" --identifier com.forewarn.agent \
    --version "$VERSION" --install-location / "$WORK/forewarn-agent-component.pkg"
mkdir -p "$OUT"
PKG="$OUT/forewarn-agent-$VERSION.pkg"
if [[ -n "${DEVELOPER_ID_INSTALLER:-}" ]]; then
    productbuild --package "$WORK/forewarn-agent-component.pkg" --sign "$DEVELOPER_ID_INSTALLER" "$PKG"
else
    productbuild --package "$WORK/forewarn-agent-component.pkg" "$PKG"
fi

# 4. Notarize and staple, so Gatekeeper accepts it offline.
if [[ -n "${NOTARY_PROFILE:-}" && -n "${DEVELOPER_ID_INSTALLER:-}" ]]; then
    xcrun notarytool submit "$PKG" --keychain-profile "$NOTARY_PROFILE" --wait
    xcrun stapler staple "$PKG"
fi
echo "$PKG"
