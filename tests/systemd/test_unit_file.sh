#!/bin/bash
# test_unit_file.sh: the systemd unit, the install and the man pages,
# checked without booting anything.
#
#   - `make install DESTDIR=...` puts every file where it belongs, rewrites
#     the unit's paths, and never overwrites an existing configuration;
#     `make uninstall` removes what it installed and keeps the configuration;
#   - `systemd-analyze verify` is clean on the installed unit (its commands
#     resolved in the staging tree, its man pages found there);
#   - `systemd-analyze security --offline=true` rates systemd/handshaked.service
#     at an exposure of 2.0 or lower;
#   - the man pages format without warnings (groff -ww, man -l).
# Exits 0 (pass), 77 (skip: systemd-analyze cannot be had) or 1 (fail).
set -u

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
UNIT=$ROOT/systemd/handshaked.service
MAX_EXPOSURE=2.0

log() { printf '[%s] %s\n' "$(date +%H:%M:%S.%3N)" "$*"; }
fail() { log "FAIL: $*"; exit 1; }
skip() { echo "SKIP: $*"; exit 77; }

if ! command -v systemd-analyze >/dev/null 2>&1; then
	# Debian's systemd package carries it; install it only where we may.
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends systemd >/dev/null 2>&1
	fi
	command -v systemd-analyze >/dev/null 2>&1 ||
		skip "systemd-analyze is not installed and could not be (apt-get install systemd, as root)"
fi

TMP=$(mktemp -d /tmp/hs-unit.XXXXXX)
trap 'rm -rf -- "$TMP"' EXIT
DEST=$TMP/root

# ---- install ----
make -s -C "$ROOT" install DESTDIR="$DEST" >"$TMP/install.log" 2>&1 || { cat "$TMP/install.log"; fail "make install failed"; }
for f in usr/local/sbin/handshaked usr/local/sbin/handshakectl usr/local/sbin/handshaked-rules \
	usr/local/lib/systemd/system/handshaked.service usr/local/lib/sysusers.d/handshaked.conf \
	etc/handshaked/handshaked.yaml usr/local/share/man/man8/handshaked.8 usr/local/share/man/man8/handshakectl.8 \
	usr/local/share/man/man8/handshaked-rules.8 usr/local/share/man/man5/handshaked.yaml.5 \
	usr/local/share/doc/handshaked/examples/web-server.yaml; do
	[ -e "$DEST/$f" ] || fail "make install did not install /$f"
done
[ -x "$DEST/usr/local/sbin/handshaked" ] || fail "handshaked is not executable"
[ "$(stat -c %a "$DEST/usr/local/lib/systemd/system/handshaked.service")" = 644 ] || fail "the unit is not mode 0644"
"$DEST/usr/local/sbin/handshaked" -t -c "$DEST/etc/handshaked/handshaked.yaml" >/dev/null ||
	fail "the installed configuration does not load"

# An existing configuration survives a second install.
echo "# mine" >>"$DEST/etc/handshaked/handshaked.yaml"
make -s -C "$ROOT" install DESTDIR="$DEST" >"$TMP/install.log" 2>&1 || fail "second make install failed"
tail -1 "$DEST/etc/handshaked/handshaked.yaml" | grep -qx '# mine' || fail "make install overwrote an existing configuration"
grep -q 'kept the existing' "$TMP/install.log" || fail "make install did not say it kept the configuration"

# Paths follow SBINDIR and SYSCONFDIR.
make -s -C "$ROOT" install DESTDIR="$TMP/other" PREFIX=/usr SYSCONFDIR=/etc/opt >/dev/null 2>&1 || fail "make install PREFIX=/usr failed"
u=$TMP/other/usr/lib/systemd/system/handshaked.service
[ -x "$TMP/other/usr/sbin/handshaked" ] || fail "PREFIX=/usr did not install into /usr/sbin"
grep -q '^ExecStart=/usr/sbin/handshaked -c /etc/opt/handshaked/handshaked.yaml$' "$u" ||
	fail "the unit's paths were not rewritten for PREFIX=/usr SYSCONFDIR=/etc/opt: $(grep ^ExecStart= "$u")"
grep -q '/usr/local' "$u" && fail "the unit installed with PREFIX=/usr still names /usr/local"
[ -e "$TMP/other/etc/opt/handshaked/handshaked.yaml" ] || fail "SYSCONFDIR was not honoured"
log "make install: every file in place, paths rewritten, an existing configuration kept"

# ---- verify ----
# systemd-analyze verify checks that every command exists and every man page
# in Documentation= opens.  Both live in the staging tree, so the installed
# unit is checked with its commands pointed there and MANPATH set to it.
mkdir -p "$TMP/verify"
sed "s|/usr/local/sbin/|$DEST/usr/local/sbin/|g" "$DEST/usr/local/lib/systemd/system/handshaked.service" \
	>"$TMP/verify/handshaked.service"
if ! MANPATH=$DEST/usr/local/share/man systemd-analyze verify "$TMP/verify/handshaked.service" >"$TMP/verify.log" 2>&1 ||
	[ -s "$TMP/verify.log" ]; then
	cat "$TMP/verify.log"
	fail "systemd-analyze verify is not clean"
fi
log "systemd-analyze verify: clean"

# ---- security ----
systemd-analyze security --offline=true "$UNIT" >"$TMP/security.log" 2>&1
exposure=$(sed -n 's/.*Overall exposure level for handshaked.service: \([0-9.]*\).*/\1/p' "$TMP/security.log")
[ -n "$exposure" ] || { cat "$TMP/security.log"; fail "no exposure level in systemd-analyze security's output"; }
if awk -v e="$exposure" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(e > m) }'; then
	grep '✗' "$TMP/security.log"
	fail "exposure $exposure is above $MAX_EXPOSURE"
fi
log "systemd-analyze security --offline=true: exposure $exposure (at most $MAX_EXPOSURE)"

# ---- man pages ----
for page in "$ROOT"/daemon/*.8 "$ROOT"/conf/*.5; do
	warnings=$(groff -man -ww -z "$page" 2>&1)
	[ -z "$warnings" ] || fail "groff warns about $page: $warnings"
	text=$(MANWIDTH=80 man -l "$page" 2>&1) || fail "man -l $page failed"
	printf '%s\n' "$text" | grep -q '^NAME' || fail "man -l $page has no NAME section"
done
# The synopsis of each program matches its own usage text.
"$ROOT/build/handshaked" -h | head -1 | grep -q '^usage: handshaked \[-c FILE\] \[-t\] \[-v\]$' ||
	fail "handshaked's usage changed; update daemon/handshaked.8"
"$ROOT/build/handshaked-rules" -h | head -1 | grep -q '^usage: handshaked-rules \[-c FILE\] \[-n\] add|del|show$' ||
	fail "handshaked-rules' usage changed; update daemon/handshaked-rules.8"
for cmd in list count summary top watch stats metrics kill reload save ping; do
	"$ROOT/build/handshakectl" -h | grep -q "^  $cmd" || fail "handshakectl -h does not list $cmd"
	grep -q "^\.B $cmd\|^\.BI $cmd" "$ROOT/daemon/handshakectl.8" || fail "handshakectl.8 does not document $cmd"
done
log "man pages: no groff warnings; commands match the programs"

# ---- uninstall ----
make -s -C "$ROOT" uninstall DESTDIR="$DEST" >/dev/null 2>&1 || fail "make uninstall failed"
left=$(find "$DEST" -type f | sed "s|^$DEST||" | sort)
[ "$left" = "/etc/handshaked/handshaked.yaml" ] || fail "make uninstall left: $left"
log "make uninstall: everything removed but the configuration"
echo PASS
