#!/usr/bin/env bash
# `make run` for now: shows the certificate verifier on the committed test
# PKI, with the CRLs given as files and no network. Once the login issue
# lands, `make run` starts `authd dev` instead.
set -uo pipefail
cd "$(dirname "$0")/.."
pki=testkeys/pki
go build -o bin/authd ./cmd/authd || exit 1
at=2026-06-01T00:00:00Z
args=(--roots $pki/root.pem --intermediates $pki/subca.pem --crl $pki/root.crl --crl $pki/auth.crl --no-network --at $at)
for leaf in card-555000000011-rsa card-555000000012-ec card-revoked card-expired card-foreign card-tampered; do
  echo "\$ bin/authd cert verify ${args[*]} $pki/$leaf.pem"
  bin/authd cert verify "${args[@]}" "$pki/$leaf.pem"
  echo "(exit $?)"
  echo
done
echo "Try the login policy:  bin/authd cert verify --login-policy authd/cli/testdata/authd.yaml ${args[*]} $pki/card-wrongeku.pem"
