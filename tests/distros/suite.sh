#!/bin/sh
# Run every Criterion test binary (each on its own, all of them even after
# a failure), the tools' tests and the examples; end with one line
# "N passed, N failed". Used inside the roots of check-distros.
#   tests/distros/suite.sh [build dir]     (default: build)
cd "$(dirname "$0")/../.." || exit 2
O=${1:-build}
pass=0 fail=0 failed=""
run() {
	name=$1
	shift
	echo "== $name"
	if "$@"; then pass=$((pass + 1)); else fail=$((fail + 1)); failed="$failed $name"; echo "FAILED: $name"; fi
}
for t in "$O"/tests/test_*; do
	case $t in *.so|*.o) continue ;; esac
	[ -x "$t" ] || continue
	run "$t" nice "$t" --jobs=2
done
run tests/test_conc_run.sh env CONC_RUN="$(pwd)/bin/conc-run" sh tests/test_conc_run.sh
for e in "$O"/examples/*; do
	[ -x "$e" ] || continue
	run "$e" sh -c "timeout 60 $e >/dev/null"
done
[ -z "$failed" ] || echo "failed:$failed"
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
