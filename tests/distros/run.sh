#!/bin/sh
# Build conc and run its tests inside a Debian root filesystem made by
# mkroot.sh (created first if missing), with chroot: every Criterion test
# binary (the thread stress test and its fault-injection switches among
# them), the tools' tests and the examples (tests/distros/suite.sh), built
# by that release's gcc against that release's glibc.
#
#   tests/distros/run.sh RELEASE
#
# Needs root (chroot, mount) and git. Roots live in $CONC_CHROOTS (default
# /work/chroots, outside the repository); the working tree's sources (git ls-files)
# are copied to /conc inside. The log is $CONC_CHROOTS/RELEASE.log.
set -eu
cd "$(dirname "$0")/../.."
rel=$1
top=${CONC_CHROOTS:-/work/chroots}
root=$top/$rel
log=$top/$rel.log

[ "$(id -u)" = 0 ] || { echo "run.sh: needs root (chroot, mount)" >&2; exit 2; }
mkdir -p "$top"
sh tests/distros/mkroot.sh "$rel" "$root"

mounted=""
cleanup() {
	for m in $mounted; do umount -R -l "$root/$m" 2>/dev/null || :; done
}
trap cleanup EXIT INT TERM
mounted="proc dev sys"
cleanup			# left from an interrupted run
mounted=""
# Criterion needs /proc and /dev; the CPU count comes from /sys.
mount -t proc proc "$root/proc" && mounted="proc"
mount --rbind /dev "$root/dev" && mount --make-rslave "$root/dev" && mounted="$mounted dev"
mount -t sysfs sysfs "$root/sys" && mounted="$mounted sys"

rm -rf "$root/conc" && mkdir -p "$root/conc"
# The sources only (tracked and new files, not build products), so that
# everything is built again by the release's own compiler.
git ls-files -co --exclude-standard | tar -cf - -T - | tar -xf - -C "$root/conc"

ver=$(chroot "$root" /usr/bin/ldd --version | sed -n '1s/.* //p')
echo "== $rel: glibc $ver" | tee "$log"
set +e
chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
	sh -c "cd /conc && { nice make -k -j2 all tests examples || echo 'BUILD FAILED'; }; sh tests/distros/suite.sh" >>"$log" 2>&1
rc=$?
if grep -q '^BUILD FAILED' "$log"; then
	grep -B1 -A3 'error:' "$log" | head -20
	rc=1
fi
set -e
# What the run found: one line per binary, then the thread verdict.
# (make -k: a file a newer gcc refuses fails the run, not the others.)
grep -E '^(== |FAILED|failed:|\[====\] Synthesis|[0-9]+ passed)' "$log" | sed 's/^/  /' | tail -80
chroot "$root" /usr/bin/env -i PATH=/usr/bin:/bin sh -c \
	'cd /conc && cc -Ilib/include -o /tmp/threads tests/distros/threads.c lib/libconc.a -luring && /tmp/threads' |
	sed "s/^/  $rel: /" | tee -a "$log"
echo "== $rel: exit $rc (log: $log)"
exit $rc
