#!/usr/bin/env bash
# Starts a private pcscd with two vpcd readers, for trying vcard by hand:
#   scripts/pcscd.sh [DIR] [PORT]      (defaults: ./.pcscd, 35963)
# It prints the export line for clients and runs pcscd in the foreground
# until Ctrl-C. The system pcscd socket (/run/pcscd) is never touched:
# pcscd 1.9.9 ignores PCSCLITE_CSOCK_NAME, so it runs in its own mount
# namespace with DIR/run bind-mounted on /run/pcscd (see
# testkeys/pcsctest/doc.go). Reader 0 listens on PORT, reader 1 on PORT+1.
set -euo pipefail
dir=$(realpath -m "${1:-.pcscd}")
port=${2:-35963}
mkdir -p "$dir/run" "$dir/reader.conf.d"
chmod 711 "$dir/run"
cat > "$dir/reader.conf.d/vpcd" <<CONF
FRIENDLYNAME "Virtual PCD"
DEVICENAME   /dev/null:$(printf '0x%X' "$port")
LIBPATH      /usr/lib/pcsc/drivers/serial/libifdvpcd.so
CHANNELID    $(printf '0x%X' "$port")
CONF
printf 'app default {\n\tframework pkcs15 {\n\t\tuse_file_caching = no;\n\t}\n}\n' > "$dir/opensc.conf"
echo "export PCSCLITE_CSOCK_NAME=$dir/run/pcscd.comm OPENSC_CONF=$dir/opensc.conf"
echo "readers: 'Virtual PCD 00 00' on 127.0.0.1:$port, 'Virtual PCD 00 01' on 127.0.0.1:$((port + 1))"
userns=()
if [ "$(id -u)" != 0 ]; then userns=(--user --map-root-user); fi
exec unshare "${userns[@]}" --mount --propagation private -- /bin/sh -c \
  'mkdir -p /run/pcscd && mount --bind "$1" /run/pcscd && exec pcscd --foreground --config "$2"' \
  sh "$dir/run" "$dir/reader.conf.d"
