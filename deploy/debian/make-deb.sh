#!/usr/bin/env bash
# deploy/debian/make-deb.sh BINARY OUTDIR: builds roomcast_<version>_<arch>.deb from a
# Release binary: /usr/bin/roomcast, the systemd unit, /etc/default/roomcast (a conffile),
# a postinst that creates the `roomcast` system user. Depends are the packages that own
# the shared libraries the binary links (dpkg -S over ldd), so `dpkg -i` pulls nothing
# unexpected and `apt-get install -f` can fix a missing one.
set -euo pipefail
BIN=$1
OUT=$2
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
[[ -x $BIN ]] || { echo "make-deb: $BIN is not an executable" >&2; exit 1; }
VERSION=$(git -C "$ROOT" log -1 --format=%cd --date=format:%Y.%m.%d 2>/dev/null || date +%Y.%m.%d)
VERSION="$VERSION+$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo local)"
ARCH=$(dpkg --print-architecture)
STAGE=$(mktemp -d)
chmod 755 "$STAGE"  # the package root becomes /: never 0700
trap 'rm -rf "$STAGE"' EXIT
install -D -m 755 "$BIN" "$STAGE/usr/bin/roomcast"
strip --strip-debug "$STAGE/usr/bin/roomcast" 2>/dev/null || true
install -D -m 644 "$HERE/roomcast.service" "$STAGE/lib/systemd/system/roomcast.service"
install -D -m 644 "$HERE/default" "$STAGE/etc/default/roomcast"
install -D -m 644 "$ROOT/README.md" "$STAGE/usr/share/doc/roomcast/README.md"
install -D -m 644 "$ROOT/docs/protocol.md" "$STAGE/usr/share/doc/roomcast/protocol.md"
install -d "$STAGE/DEBIAN"
install -m 755 "$HERE/postinst" "$HERE/postrm" "$STAGE/DEBIAN/"
echo /etc/default/roomcast > "$STAGE/DEBIAN/conffiles"
DEPENDS=$(ldd "$BIN" | awk '/=> \// {print $3}' | while read -r lib; do
            dpkg -S "$(readlink -f "$lib")" 2>/dev/null || dpkg -S "$lib" 2>/dev/null || true
          done | cut -d: -f1 | sort -u | paste -sd, | sed 's/,/, /g')
SIZE=$(du -sk "$STAGE" | cut -f1)
cat > "$STAGE/DEBIAN/control" <<CONTROL
Package: roomcast
Version: $VERSION
Architecture: $ARCH
Maintainer: roomcast maintainers <roomcast@localhost>
Installed-Size: $SIZE
Depends: adduser, $DEPENDS
Section: net
Priority: optional
Description: real-time collaboration server for multi-user 3D viewers
 One daemon per machine speaking the roomcast WebSocket protocol 1.1: presence,
 shared cameras, selection sync and reliable building edits per project room,
 with resume after dropped sockets and exactly-once edits. io_uring per core.
CONTROL
mkdir -p "$OUT"
DEB="$OUT/roomcast_${VERSION}_${ARCH}.deb"
dpkg-deb --root-owner-group --build "$STAGE" "$DEB" >/dev/null
echo "$DEB"
