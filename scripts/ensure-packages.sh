#!/usr/bin/env bash
# Installs the Debian packages cardhub needs to build and test, when missing.
# Idempotent: packages already present are left alone; apt-get runs only when
# something is missing, through sudo when not root.
#
# usage: scripts/ensure-packages.sh run|test
set -euo pipefail

what=${1:-run}

# Building: a C toolchain for the bundled SQLite, libpq for diesel's
# PostgreSQL backend, pkg-config to find it.
packages=(build-essential pkg-config libpq-dev ca-certificates)
# Card readers: libpcsclite-dev to build the PC/SC driver, pcscd to talk to
# readers, vsmartcard-vpcd for the virtual readers of the test rig
# (scripts/pcsc-rig.sh) and of a hub run against simulated cards.
packages+=(libpcsclite-dev pcscd vsmartcard-vpcd)
# Card faces and envelope pages: HanaMin A and B together cover the CJK
# unified ideographs including extensions A to F, so rare characters in
# names are drawn, never replaced by a missing-glyph box.
packages+=(fonts-hanazono)
# Testing also needs the openssl program (SM2/SM3/SM4 interoperability
# tests and the crypto benchmark's reference figures).
# Debian's chromium drives the monitoring wall's browser test (headless,
# over the DevTools protocol).
if [ "$what" = test ]; then
  packages+=(openssl chromium)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "cardhub: installing missing packages: ${missing[*]}"
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
  fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "cardhub: cargo (Rust 1.89 or newer) is not on PATH." >&2
  echo "Install the Rust toolchain with rustup, then run this command again." >&2
  exit 1
fi
