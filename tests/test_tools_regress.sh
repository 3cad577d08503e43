#!/bin/sh
# test_tools_regress.sh — conc-sem, conc-queue and conc-event: one
# section per bug a hidden-tester session found, named after it, each
# failing on the code before its fix. Every run is bounded by timeout(1);
# no test asserts a timing. Objects are named conc-tr-<pid>-*, removed at
# the end.
#   CONC_BIN=dir (default: ./bin)
B=${CONC_BIN:-$(pwd)/bin}
SEM=$B/conc-sem Q=$B/conc-queue EV=$B/conc-event
P=conc-tr-$$
. "$(dirname "$0")/sh_ok.sh"
. "$(dirname "$0")/sh_tools.sh"
T=$(mktemp -d /tmp/conc-tools-regress.XXXXXX) || exit 1
cleanup() {
	rm -rf "$T"
	rm -f /dev/shm/$P-*
}
trap cleanup EXIT
cd "$T" || exit 1

# ---- conc-sem: no fd left to start the command is conc-sem's failure
# (125, as timeout(1) when it cannot fork), not a command that cannot run
# (126): a script telling "not executable" apart was told so wrongly.
# Fds 0-2 and the semaphore's take 4; the command's pidfd finds no fifth.
# The fds above 2 the caller may have passed are closed first. ----
"$SEM" $P-fd true
ok "sem: no fd for the command's pidfd: 125" "rc=125" \
	"$(timeout 60 sh -c 'ulimit -n 4 && exec "$0" "$1" true' "$SEM" $P-fd \
		3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- >/dev/null 2>"$T/err"; echo "rc=$?")"
msg "sem: no fd for the command's pidfd" conc-sem
ok "... the permit given back" "rc=0 $P-fd: 1 permits, 1 free" \
	"$(run "$SEM" -w 20 $P-fd true) $(timeout 10 "$SEM" --status $P-fd | head -n 1)"
ok "... a command that cannot run is still 126" "rc=126" "$(run "$SEM" $P-fd /etc/passwd)"

echo "test_tools_regress: $pass passed, $fail failed"
[ "$fail" = 0 ]
