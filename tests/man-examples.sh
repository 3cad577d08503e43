#!/bin/sh
# man-examples.sh — compile and run the program in every man page's EXAMPLES.
#
#   tests/man-examples.sh [page...]      (default: man/man*/*.[1-9])
#
# A page's example is built the way a reader would build it: only <conc.h>
# on the include path, no -D_GNU_SOURCE, warnings as errors, linked with
# libconc.a. It then runs from an empty directory with no input, under a
# timeout that ends its whole process group. A page whose example cannot run
# unattended says so in its source and is only compiled:
#     .\" example: compile-only
# Fails naming the page on a compile error, a non-zero exit or a timeout.
# Pages that share one program build and run it once.
# Each function a page names in NAME should be called by its example: those
# that are not are listed (a failure with MAN_EXAMPLES_STRICT=1).
# Environment: CC, EXCFLAGS, LIB, LIBS, O (build dir), TIMEOUT (seconds).
set -u
cd "$(dirname "$0")/.." || exit 1

CC=${CC:-cc}
EXCFLAGS=${EXCFLAGS:--std=gnu11 -O2 -g -Wall -Wextra -Werror}
LIB=${LIB:-lib/libconc.a}
LIBS=${LIBS:--luring}
O=${O:-build}
TIMEOUT=${TIMEOUT:-30}
dir=$(pwd)/$O/man-examples

[ $# -gt 0 ] || set -- man/man*/*.[1-9]
[ -f "$LIB" ] || { echo "man-examples: $LIB not built (make lib)" >&2; exit 1; }
rm -rf "$dir" && mkdir -p "$dir/run" || exit 1

# The functions a page documents: the names before "\-" in its NAME section.
names() {
	awk '/^\.S[Hh][ \t]/ { f = ($2 == "NAME"); next }
	     f { printf "%s ", $0 }' "$1" |
	sed 's/\\-.*//; s/\\f[BIRP]//g; s/\\&//g; s/,/ /g'
}

pages=0 aliases=0 built=0 ran=0 only=0 failed=0 none="" unused=0 seen=" "
for page in "$@"; do
	[ -f "$page" ] || continue
	# An alias (a symbolic link to another page) is judged as that page.
	page=$(realpath --relative-to=. "$page")
	case $seen in *" $page "*) aliases=$((aliases + 1)); continue ;; esac
	seen="$seen$page "
	pages=$((pages + 1))
	name=$(basename "$page")
	src=$dir/$name.c
	if ! awk -f tests/man-example.awk "$page" > "$src"; then
		echo "FAILED: $page: its example has escapes the extractor does not know"
		failed=$((failed + 1)); continue
	fi
	if [ ! -s "$src" ]; then
		none="$none $name"; rm -f "$src"; continue
	fi
	# Calls only: not a name in a comment or a string.
	awk -v show=1 -f tests/c-code.awk "$src" > "$dir/$name.code"
	miss=""
	for fn in $(names "$page"); do
		grep -q "\\<$fn\\>" "$dir/$name.code" || miss="$miss $fn"
	done
	if [ -n "$miss" ]; then
		echo "note: $page: its example never calls$miss"
		unused=$((unused + 1))
	fi
	mode=run
	grep -q '^[.'"'"']\\" *example: *compile-only' "$page" && mode=compile

	# One program shared by several pages is judged once, under its first page.
	sum=$(cksum < "$src" | cut -d' ' -f1)
	prev=$dir/$sum.$mode
	if [ -f "$prev" ]; then
		read -r verdict first why < "$prev"
		if [ "$verdict" != ok ]; then
			echo "FAILED: $page: same program as $first ($why)"
			failed=$((failed + 1))
		fi
		continue
	fi

	bin=$dir/$name.bin
	if ! nice $CC $EXCFLAGS -Ilib/include -o "$bin" "$src" "$LIB" $LIBS > "$dir/$name.cc" 2>&1; then
		echo "FAILED: $page: its example does not compile ($src):"
		sed 's/^/    /' "$dir/$name.cc" | head -30
		echo "fail $page does not compile" > "$prev"; failed=$((failed + 1)); continue
	fi
	built=$((built + 1))
	if [ $mode = compile ]; then
		only=$((only + 1)); echo "ok $page" > "$prev"; continue
	fi

	run=$(mktemp -d "$dir/run/$name.XXXXXX") || exit 1
	(cd "$run" && exec nice timeout -k 5 "$TIMEOUT" "$bin" < /dev/null > "$dir/$name.out" 2>&1)
	rc=$?
	rm -rf "$run"
	if [ $rc -ne 0 ]; then
		if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then why="timed out after ${TIMEOUT}s"
		elif [ $rc -gt 128 ]; then why="killed by signal $((rc - 128))"
		else why="exit status $rc"; fi
		echo "FAILED: $page: its example $why; output:"
		sed 's/^/    /' "$dir/$name.out" | tail -20
		echo "fail $page $why" > "$prev"; failed=$((failed + 1)); continue
	fi
	ran=$((ran + 1)); echo "ok $page" > "$prev"
done

[ -z "$none" ] || echo "man-examples: pages without EXAMPLES:$none"
echo "man-examples: $pages pages (and $aliases aliases), $built programs built, $ran ran, $only compile-only"
[ $unused -eq 0 ] || echo "man-examples: $unused pages whose example leaves out a function they document"
[ $unused -eq 0 ] || [ "${MAN_EXAMPLES_STRICT:-0}" = 0 ] || failed=$((failed + unused))
if [ $failed -gt 0 ]; then
	echo "man-examples: $failed pages failed"
	exit 1
fi
