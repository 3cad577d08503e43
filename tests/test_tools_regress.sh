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
nl='
'

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

# ---- conc-queue put: a line longer than any queue takes (16 MiB) was
# read whole into memory before put said it was too long: a stream
# without a newline (/dev/zero, a binary file) until memory ran out. Now
# put stops reading past 16 MiB: the writer of 40 MB is cut off (its
# status is not 0) and nothing is put. ----
"$Q" create $P-long
{ head -c 40000000 /dev/zero | tr '\0' a; echo $? > long.st; } |
	timeout 60 "$Q" put $P-long 2>"$T/err"
ok "queue put, a line of 40 MB: 5, the writer cut off, nothing put" "rc=5 cut messages 0" \
	"rc=$? $([ "$(cat long.st)" != 0 ] && echo cut || echo "read whole") $(timeout 10 "$Q" stat $P-long)"
msg "queue put, a line of 40 MB" conc-queue
# At the bound: a queue of 16 MiB messages takes one of 16 MiB exactly,
# and one a byte longer is refused; the lines before it are put.
"$Q" create -c 2 -s 16777216 $P-max
{ echo first; head -c 16777216 /dev/zero | tr '\0' b; echo; head -c 16777217 /dev/zero | tr '\0' c; echo; } |
	timeout 60 "$Q" put $P-max 2>"$T/err"
ok "queue put, 16 MiB and 16 MiB + 1: 5, the first two put" "rc=5 messages 2" \
	"rc=$? $(timeout 10 "$Q" stat $P-max)"
ok "... whole" "first 16777217" \
	"$(timeout 60 "$Q" get $P-max) $(timeout 60 "$Q" get $P-max | wc -c | tr -d ' ')"
# -0: the same bound, a NUL ending each record.
"$Q" create $P-long0
{ head -c 20000000 /dev/zero | tr '\0' a; echo $? > long0.st; } |
	timeout 60 "$Q" put -0 $P-long0 2>"$T/err"
ok "queue put -0, a record of 20 MB: 5, the writer cut off" "rc=5 cut" \
	"rc=$? $([ "$(cat long0.st)" != 0 ] && echo cut || echo "read whole")"
ok "queue put -0: records as before" "a|b||c|rc=0" \
	"$(printf 'a\0b\0\0c' | timeout 60 "$Q" put -0 $P-long0; echo "rc=$?" > put0.rc
	   timeout 60 "$Q" get -0 -n 4 -t 0 $P-long0 | tr '\0' '|'; cat put0.rc)"

# ---- conc-sem: a command ended by a signal ended conc-sem with exit(128
# + N), where a command run alone dies by the signal: bash, sent Ctrl-C
# while it waits, goes on with its loop when the command it waits for
# exits, as one that caught the signal (wait and cooperative exit), so
# `for f in ...; do conc-sem lock cmd; done` took one Ctrl-C per file. Now
# conc-sem ends by the command's signal, as timeout(1) does. Here SIGINT
# goes to the script's process group (a terminal's Ctrl-C): the loop must
# stop in its first round, not go on to the second (which ends at once:
# nothing in this waits on time). ----
if command -v bash >/dev/null 2>&1; then
	cat > wce.sh <<'EOF2'
for i in 1 2; do
	"$1" "$2" sh -c 'echo $$ > wce.$1; [ $1 = 2 ] || exec sleep 300' sh $i
	echo "$i:$?" >> wce.st
done
EOF2
	timeout -s KILL 120 setsid env --default-signal=INT bash wce.sh "$SEM" $P-wce &
	w=$!
	sleeping() { [ -s wce.1 ] && [ "$(cat /proc/$(cat wce.1)/comm 2>/dev/null)" = sleep ]; }
	# The process group of the command, the script's (bash is its leader).
	until_ sleeping && kill -INT -"$(awk '{ print $5 }' /proc/$(cat wce.1)/stat)"
	wait $w
	ok "sem: Ctrl-C stops a bash loop of conc-sem as it stops one of the command" \
		"no 2nd round: " "$([ -e wce.2 ] && echo "2nd round" || echo "no 2nd round"): $(cat wce.st 2>/dev/null)"
	[ -s wce.1 ] && kill -9 "$(cat wce.1)" 2>/dev/null
else
	skip=$((skip + 1))
	echo "SKIP: sem: Ctrl-C in a bash loop: no bash"
fi
ok "sem: a command killed by SIGTERM: 143 to the shell" "rc=143" \
	"$(timeout 60 "$SEM" $P-wce sh -c 'kill -TERM $$' 2>/dev/null; echo "rc=$?")"
ok "... by SIGKILL: 137, the permit back" "rc=137 $P-wce: 1 permits, 1 free" \
	"$(timeout 60 "$SEM" $P-wce sh -c 'kill -KILL $$' 2>/dev/null; echo "rc=$?") $(timeout 10 "$SEM" --status $P-wce | head -n 1)"
# The command dumps no core of its own: a core here would be conc-sem's.
ok "... by SIGSEGV: 139, no core of conc-sem" "rc=139 no core" \
	"$(ulimit -c unlimited 2>/dev/null; timeout 60 "$SEM" $P-wce sh -c 'ulimit -c 0; kill -SEGV $$' 2>/dev/null; echo "rc=$?") $(ls | grep -q '^core' && echo core || echo no core)"

# ---- rm of a semaphore or queue that is no longer opened as one: its
# creator died before setting it up (or a peer broke it). conc-sem --rm
# and conc-queue rm opened it as a semaphore or queue first, and so
# refused it ("not a semaphore: not removed", which conc-sem's own error
# sent the user to), and nothing but rm(1) in /dev/shm could free the
# name. Now rm asks only that the file be a segment of its kind, as
# conc-event rm does: another kind of object is still left alone. ----
poke() {	# poke FILE OFFSET BYTES (a printf escape string)
	printf "$3" | dd of="$1" bs=1 seek="$2" conv=notrunc 2>/dev/null
}
# The semaphore's permits (the first word of its data, at 64), 0 until
# its creator sets it up; a -n other than the one given cannot finish it.
"$SEM" -n 3 $P-half true
poke /dev/shm/$P-half 64 '\0\0\0\0'
ok "sem: one never set up, as its creator left it: an error to use" "rc=125" "$(run "$SEM" -w 0 $P-half true)"
ok "... removed by --rm" "rc=0 no" "$(run "$SEM" --rm $P-half) $([ -e /dev/shm/$P-half ] && echo yes || echo no)"
ok "... the name used again" "rc=0" "$(run "$SEM" -n 3 -w 20 $P-half true)"
# The queue's init word (the first of its data): 1 while its creator
# sets it up, for ever if it died then.
"$Q" create $P-halfq
poke /dev/shm/$P-halfq 64 '\1\0\0\0'
ok "queue: one never set up, as its creator left it: an error to use" "rc=5" "$(run "$Q" put -t 0 $P-halfq x)"
ok "... removed by rm" "rc=0 no" "$(run "$Q" rm $P-halfq) $([ -e /dev/shm/$P-halfq ] && echo yes || echo no)"
ok "... the name used again" "rc=0 x${nl}rc=0" "$(run "$Q" create $P-halfq) $("$Q" put $P-halfq x; run "$Q" get -t 20 $P-halfq)"
# --mode 666: opened by its fd (tool_shm_fd), removed the same way.
"$SEM" --mode 666 -n 2 $P-half6 true
poke /dev/shm/$P-half6 64 '\0\0\0\0'
ok "sem --mode 666, never set up: removed by --rm" "rc=0 no" \
	"$(run "$SEM" --rm $P-half6) $([ -e /dev/shm/$P-half6 ] && echo yes || echo no)"
# Another kind, a plain file: left alone, as before.
"$EV" set $P-other; echo data > /dev/shm/$P-plain; chmod 600 /dev/shm/$P-plain
ok "sem --rm, queue rm of an event: refused, left alone" "rc=125 rc=5 yes" \
	"$(run "$SEM" --rm $P-other) $(run "$Q" rm $P-other) $([ -e /dev/shm/$P-other ] && echo yes || echo no)"
ok "sem --rm, queue rm of a plain file: refused, left alone" "rc=125 rc=5 data" \
	"$(run "$SEM" --rm $P-plain) $(run "$Q" rm $P-plain) $(cat /dev/shm/$P-plain)"
ok "sem --rm, queue rm: missing is still 4" "rc=4 rc=4" "$(run "$SEM" --rm $P-none) $(run "$Q" rm $P-none)"

echo "test_tools_regress: $pass passed, $fail failed"
[ "$fail" = 0 ]
