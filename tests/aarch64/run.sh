#!/bin/sh
# make check-aarch64: cross-build conc for aarch64 and run it under
# qemu-aarch64 (user mode): the thread verdict, every example, every man
# page's example, and every Criterion test binary, minus the tests that
# need what qemu-user does not emulate (tests/aarch64/skips says which and
# why; each skip is printed with its reason). Ends with "N passed, N failed".
#
# Needs (Debian): gcc-aarch64-linux-gnu qemu-user qemu-user-binfmt, and
# with `dpkg --add-architecture arm64`: liburing-dev:arm64, and libffi8:arm64
# libgit2-1.5:arm64 (what libcriterion.so links). Criterion for arm64
# cannot be installed beside the native one (libcriterion-dev and
# libnanomsg5 are not Multi-Arch: installing them :arm64 removes the native
# Criterion), so its library and nanomsg's are unpacked with dpkg -x into
# $CONC_CHROOTS/arm64-criterion instead. The
# Criterion binaries re-execute themselves, which needs binfmt_misc to run
# aarch64 executables through qemu; without it only the examples and man
# page examples run, and the script says so.
set -u
cd "$(dirname "$0")/../.." || exit 2
top=${CONC_CHROOTS:-/work/chroots}
crit=$top/arm64-criterion/usr/lib/aarch64-linux-gnu
O=build/aarch64
XCC=aarch64-linux-gnu-gcc
export QEMU_LD_PREFIX=${QEMU_LD_PREFIX:-/}

for tool in $XCC qemu-aarch64; do
	command -v $tool >/dev/null || { echo "check-aarch64: $tool missing (apt-get install gcc-aarch64-linux-gnu qemu-user)" >&2; exit 2; }
done
[ -e /usr/lib/aarch64-linux-gnu/liburing.a ] || {
	echo "check-aarch64: liburing for arm64 missing (dpkg --add-architecture arm64; apt-get update; apt-get install liburing-dev:arm64)" >&2
	exit 2
}
if [ ! -e "$crit/libcriterion.so" ]; then
	tmp=$(mktemp -d)
	(cd "$tmp" && apt-get download libcriterion3:arm64 libnanomsg5:arm64 >/dev/null 2>&1) &&
	for d in "$tmp"/*.deb; do dpkg -x "$d" "$top/arm64-criterion"; done &&
	ln -sfn libcriterion.so.3 "$crit/libcriterion.so"
	rm -rf "$tmp"
fi
criterion=yes
[ -e "$crit/libcriterion.so" ] || criterion="no: Criterion for arm64 could not be unpacked"
for lib in libffi.so.8 libgit2.so.1.5; do
	[ -e /usr/lib/aarch64-linux-gnu/$lib ] ||
		criterion="no: $lib for arm64 missing (apt-get install libffi8:arm64 libgit2-1.5:arm64)"
done
if [ "$criterion" = yes ] && ! grep -qs enabled /proc/sys/fs/binfmt_misc/qemu-aarch64; then
	mountpoint -q /proc/sys/fs/binfmt_misc 2>/dev/null ||
		mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null
	[ -e /usr/lib/binfmt.d/qemu-aarch64.conf ] &&
		/lib/systemd/systemd-binfmt /usr/lib/binfmt.d/qemu-aarch64.conf 2>/dev/null
	grep -qs enabled /proc/sys/fs/binfmt_misc/qemu-aarch64 ||
		criterion="no: binfmt_misc cannot run aarch64 programs here (qemu-user-binfmt)"
fi

mkdir -p "$O"
make -j2 --no-print-directory O=$O LIB=$O/libconc.a AR=aarch64-linux-gnu-ar \
	CC="$XCC -L$crit -Wl,-rpath-link=$crit" $O/libconc.a examples \
	$([ "$criterion" = yes ] && echo tests) >$O.log 2>&1 ||
	{ echo "check-aarch64: build failed, see $O.log" >&2; exit 1; }
export LD_LIBRARY_PATH=$crit

pass=0 fail=0 failed=""
ok() { pass=$((pass + 1)); }
ko() { fail=$((fail + 1)); failed="$failed $1"; echo "FAILED: $1"; }

$XCC -Ilib/include -O2 -o $O/threads tests/distros/threads.c $O/libconc.a -luring &&
	qemu-aarch64 $O/threads | sed 's/^/  qemu-aarch64: /'
# An example that prints FAILED has failed, whatever its exit code.
for e in $O/examples/*; do
	name=examples/${e##*/}
	why=$(awk -F '\t' -v n="$name" '$1 == n { print $3 }' tests/aarch64/skips)
	if [ -n "$why" ]; then echo "  skip $name: $why"; continue; fi
	echo "== $e"
	out=$(timeout 120 qemu-aarch64 "$e" 2>&1)
	if [ $? = 0 ] && ! printf '%s\n' "$out" | grep -q FAILED; then ok; else ko "$e"; fi
done
if [ "$criterion" = yes ]; then
	# man-examples.sh runs each program directly: binfmt_misc hands it
	# to qemu.
	pages=""
	for m in man/man*/*.[1-9]; do
		# An alias (a symbolic link) stands for the page it names.
		real=$m
		[ -L "$m" ] && real=${m%/*}/$(readlink "$m")
		why=$(awk -F '\t' -v n="$real" '$1 == n { print $3 }' tests/aarch64/skips)
		if [ -n "$why" ]; then echo "  skip $m: $why"; else pages="$pages $m"; fi
	done
	# shellcheck disable=SC2086
	if CC=$XCC LIB=$O/libconc.a LIBS=-luring O=$O TIMEOUT=120 sh tests/man-examples.sh $pages; then
		ok
	else
		ko man-examples
	fi
	for t in $O/tests/test_*; do
		case $t in *.so) continue ;; esac
		name=${t##*/}
		skip=$(awk -F '\t' -v n="$name" '$1 == n { printf "%s%s", s, $2; s = "|" }' tests/aarch64/skips)
		awk -F '\t' -v n="$name" '$1 == n { print "  skip " n " " $2 ": " $3 }' tests/aarch64/skips
		[ "$skip" = "*" ] && continue
		echo "== $t"
		if [ -n "$skip" ]; then
			timeout 900 nice "$t" --jobs=1 --filter="!($skip)"
		else
			timeout 900 nice "$t" --jobs=1
		fi
		if [ $? = 0 ]; then ok; else ko "$t"; fi
	done
else
	echo "Criterion tests and man page examples not run under qemu: $criterion"
fi
[ -z "$failed" ] || echo "failed:$failed"
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
