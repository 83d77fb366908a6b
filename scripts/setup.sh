#!/usr/bin/env bash
# Installs the Debian packages the project needs, only those that are missing.
# Safe to run repeatedly; does nothing when everything is present.
set -euo pipefail

packages=(
  openssl          # openssl ocsp: a real OCSP responder for revocation tests
  softhsm2         # a real PKCS#11 module for token tests
  opensc           # opensc-pkcs11.so and pkcs11-tool
  pcscd            # the PC/SC daemon
  libpcsclite-dev  # PC/SC headers for github.com/ebfe/scard (cgo)
  vsmartcard-vpcd  # pcscd's virtual reader driver that vcard plugs into
  pcsc-tools       # pcsc_scan, to show a virtual card is seen
  redis-server     # session store backend (tests start one on loopback if none runs)
  postgresql       # registration store backend (same)
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  exit 0
fi

echo "setup: installing missing packages: ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
