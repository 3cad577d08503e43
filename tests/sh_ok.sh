# tests/sh_ok.sh — sourced by the shell tests that drive the tools:
# counting checks and capturing a bounded run. Needs $T (a scratch dir).
pass=0 fail=0 skip=0

# ok NAME EXPECTED ACTUAL
ok() {
	if [ "$2" = "$3" ]; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		printf 'FAIL: %s\n--- expected\n%s\n--- got\n%s\n' "$1" "$2" "$3"
	fi
}

# capture CMD ARGS...: its stdout, then "rc=N" (timeout(1) bounds it:
# 124 when it hung); its stderr in $T/err.
capture() {
	out=$(timeout 60 "$@" 2>"$T/err"; echo "rc=$?")
	printf '%s' "$out"
}
