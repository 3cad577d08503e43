#!/bin/sh
# test_tools.sh — drives the real bin/conc-sem, bin/conc-queue and
# bin/conc-event as a shell user would: options, exit codes, messages,
# names with '/', objects of another kind, missing objects, and holders
# killed with SIGKILL. Every run is bounded by timeout(1); no test asserts
# a timing. Objects are named conc-tt-<pid>-* and removed at the end.
#   CONC_BIN=dir (default: ./bin)
B=${CONC_BIN:-$(pwd)/bin}
SEM=$B/conc-sem Q=$B/conc-queue EV=$B/conc-event
P=conc-tt-$$
. "$(dirname "$0")/sh_ok.sh"
T=$(mktemp -d /tmp/conc-tools-test.XXXXXX) || exit 1
cleanup() {
	[ -n "$h1$h2" ] && kill -9 $h1 $h2 2>/dev/null
	rm -rf "$T"
	rm -f /dev/shm/$P-*
}
trap cleanup EXIT
cd "$T" || exit 1
nl='
'

# run TOOL ARGS...: stdout, then "rc=N"; stderr kept in $T/err
run() { capture "$@"; }

# The first line of the last stderr.
err() { head -n 1 "$T/err"; }

# ---- every tool: --help, --version, bad options ----
for t in "$SEM" "$Q" "$EV"; do
	n=$(basename "$t")
	ok "$n --version" "$n (conc) 0.1.0${nl}rc=0" "$(run "$t" --version)"
	r=$(run "$t" --help)
	case $r in usage:*rc=0) ok "$n --help" 1 1 ;; *) ok "$n --help" usage "$r" ;; esac
	run "$t" --no-such-option >/dev/null
	case $(err) in "$n: unrecognized option"*|*"$n"*) ok "$n bad option names itself" 1 1 ;;
		*) ok "$n bad option names itself" "$n: ..." "$(err)" ;; esac
done
ok "conc-sem bad option" "rc=125" "$(run "$SEM" --bogus x true)"
ok "conc-queue bad option" "rc=2" "$(run "$Q" get --bogus x)"
ok "conc-event bad option" "rc=2" "$(run "$EV" wait --bogus x)"

# ---- conc-sem ----
ok "sem: runs the command, its status" "hi${nl}rc=3" \
	"$(run "$SEM" -n 2 $P-s -- sh -c 'echo hi; exit 3')"
ok "sem: made with mode 0600" "600" "$(stat -c %a /dev/shm/$P-s)"
ok "sem: without --" "x${nl}rc=0" "$(run "$SEM" $P-s echo x)"
ok "sem: -n must agree with an existing one" "rc=125" "$(run "$SEM" -n 3 $P-s true)"
ok "sem: ... and says so" "conc-sem: $P-s: has 2 permits, not 3 (remove it with --rm to change)" "$(err)"
ok "sem: killed by a signal is 128+N" "rc=143" "$(run "$SEM" $P-s sh -c 'kill -TERM $$')"
ok "sem: the status comes back with SIGCHLD ignored" "rc=3" \
	"$(run sh -c 'trap "" CHLD; exec "$0" "$1" sh -c "exit 3"' "$SEM" $P-s)"
ok "sem: command not found" "rc=127" "$(run "$SEM" $P-s /no/such/cmd)"
ok "sem: command not executable" "rc=126" "$(run "$SEM" $P-s /etc/passwd)"
# A script without "#!" (ENOEXEC) runs through /bin/sh, its path as $0,
# as execvp(3) runs it for env(1), timeout(1), xargs(1): 126 before.
printf 'echo "$0 $1"; exit 5\n' > noshebang
chmod +x noshebang
ok "sem: a script without #! runs through sh" "./noshebang a${nl}rc=5" \
	"$(run "$SEM" $P-s ./noshebang a)"
ok "sem: ... as env(1) runs it" "$(run env ./noshebang a)" \
	"$(run "$SEM" $P-s ./noshebang a)"
ok "sem: ... found in PATH, as env(1) runs it" "$T/noshebang a${nl}rc=5" \
	"$(run env PATH="$T:$PATH" "$SEM" $P-s noshebang a)"
ok "sem: ... env(1) too" "$T/noshebang a${nl}rc=5" \
	"$(run env PATH="$T:$PATH" env noshebang a)"
ok "sem: a name with /" "rc=125" "$(run "$SEM" a/b true)"
ok "sem: ... says why" "conc-sem: a/b: a name may not contain '/' (it is a file under /dev/shm)" "$(err)"
ok "sem: no command" "rc=125" "$(run "$SEM" $P-s)"
ok "sem: bad -w" "rc=125" "$(run "$SEM" -w soon $P-s true)"
ok "sem: bad -n" "rc=125" "$(run "$SEM" -n 0 $P-s true)"
ok "sem: --mode" "rc=0" "$(run "$SEM" --mode 640 $P-m true)"
ok "sem: --mode applied" "640" "$(stat -c %a /dev/shm/$P-m)"

# Two permits, three holders: the third waits, with -w it gives up.
"$SEM" -n 2 $P-s sleep 600 & h1=$!
"$SEM" -n 2 $P-s sleep 600 & h2=$!
for i in $(seq 600); do
	[ "$(timeout 10 "$SEM" --status $P-s | grep -c 'sleep 600')" = 2 ] && break
	sleep 0.1
done
st=$(timeout 10 "$SEM" --status $P-s)
ok "sem: --status header" "$P-s: 2 permits, 0 free" "$(echo "$st" | head -n 1)"
ok "sem: --status lists pid, permits, since, command" "2" \
	"$(echo "$st" | grep -cE "^($h1|$h2)	1	[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}	sleep 600\$")"
ok "sem: -w gives up" "rc=124" "$(run "$SEM" -w 0.2 $P-s true)"
ok "sem: ... and says so" "conc-sem: $P-s: no permit free within the wait" "$(err)"
# A waiter gets the permit of a holder killed with SIGKILL (its command
# dies with it: nothing runs without a permit).
"$SEM" $P-s sh -c 'echo "$CONC_SEM_OWNER_DIED" > got' & w=$!
sleep 0.2
kill -9 "$h1"
wait "$h1" 2>/dev/null
for i in $(seq 600); do [ -s got ] && break; sleep 0.1; done
ok "sem: SIGKILLed holder's permit goes to a waiter, who is told" "1" "$(cat got 2>/dev/null)"
wait "$w"
ok "sem: the command of a killed holder died with it" "1" \
	"$(timeout 10 "$SEM" --status $P-s | grep -c 'sleep 600')"
kill -TERM "$h2"
wait "$h2"
ok "sem: SIGTERM is passed to the command" "143" "$?"
h1= h2=
ok "sem: all permits back" "$P-s: 2 permits, 2 free" "$(timeout 10 "$SEM" --status $P-s | head -n 1)"
# Holders and waiters killed at random moments: every permit comes back.
pids=""
for i in $(seq 12); do
	"$SEM" -n 2 $P-s sleep 30 & pids="$pids $!"
done
for p in $pids; do
	sleep 0.0$(( $(od -An -N1 -tu1 /dev/urandom) % 10 ))
	kill -9 "$p"
done
wait 2>/dev/null
ok "sem: after a storm of SIGKILLs, all permits come back" "rc=0" \
	"$(run "$SEM" -w 10 $P-s true)"
ok "sem: ... both of them" "$P-s: 2 permits, 2 free" "$(timeout 10 "$SEM" --status $P-s | head -n 1)"
ok "sem: --rm" "rc=0" "$(run "$SEM" --rm $P-s)"
ok "sem: --rm missing" "rc=4" "$(run "$SEM" --rm $P-s)"
ok "sem: --status missing" "rc=4" "$(run "$SEM" --status $P-s)"
ok "sem: ... says so" "conc-sem: $P-s: no such semaphore" "$(err)"

# ---- conc-event ----
ok "event: wait on a missing one" "rc=4" "$(run "$EV" wait -t 0.1 $P-e)"
ok "event: ... says so" "conc-event: $P-e: no such event" "$(err)"
ok "event: status missing" "rc=4" "$(run "$EV" status $P-e)"
ok "event: clear creates it" "rc=0" "$(run "$EV" clear $P-e)"
ok "event: made with mode 0600" "600" "$(stat -c %a /dev/shm/$P-e)"
ok "event: status clear" "clear${nl}rc=1" "$(run "$EV" status $P-e)"
ok "event: wait times out" "rc=1" "$(run "$EV" wait -t 0.2 $P-e)"
(sleep 0.3; "$EV" set $P-e) &
ok "event: wait ends when set" "rc=0" "$(run "$EV" wait -t 20 $P-e)"
wait
ok "event: status set" "set${nl}rc=0" "$(run "$EV" status $P-e)"
ok "event: wait on a set one" "rc=0" "$(run "$EV" wait -t 0 $P-e)"
ok "event: set creates it" "rc=0" "$(run "$EV" set $P-e2)"
ok "event: status of a new set one" "set${nl}rc=0" "$(run "$EV" status $P-e2)"
ok "event: a name with /" "rc=2" "$(run "$EV" set a/b)"
ok "event: bad command" "rc=2" "$(run "$EV" frob $P-e)"
ok "event: bad -t" "rc=2" "$(run "$EV" wait -t -1 $P-e)"
ok "event: -t only for wait" "rc=2" "$(run "$EV" set -t 1 $P-e)"
"$SEM" $P-k true
ok "event: another kind of object" "rc=5" "$(run "$EV" wait -t 0 $P-k)"
ok "event: ... says so" "conc-event: $P-k: not an event (another kind of object)" "$(err)"
ok "event: set does not clobber another kind" "rc=5" "$(run "$EV" set $P-k)"
ok "event: rm another kind refused" "rc=5" "$(run "$EV" rm $P-k)"
ok "event: rm" "rc=0" "$(run "$EV" rm $P-e)"
ok "event: rm missing" "rc=4" "$(run "$EV" rm $P-e)"

# ---- conc-queue ----
ok "queue: put to a missing one" "rc=4" "$(run "$Q" put $P-q x)"
ok "queue: ... says so" "conc-queue: $P-q: no such queue" "$(err)"
ok "queue: create" "rc=0" "$(run "$Q" create -c 4 -s 64 $P-q)"
ok "queue: made with mode 0600" "600" "$(stat -c %a /dev/shm/$P-q)"
ok "queue: create again, same geometry" "rc=0" "$(run "$Q" create -c 4 -s 64 $P-q)"
ok "queue: create again, other geometry" "rc=5" "$(run "$Q" create -c 5 $P-q)"
ok "queue: put args" "rc=0" "$(run "$Q" put $P-q 'a b' '')"
ok "queue: stat" "messages 2${nl}rc=0" "$(run "$Q" stat $P-q)"
ok "queue: get one" "a b${nl}rc=0" "$(run "$Q" get $P-q)"
ok "queue: an empty message" "${nl}rc=0" "$(run "$Q" get -t 0 $P-q)"
ok "queue: get empty, timeout" "rc=1" "$(run "$Q" get -t 0.2 $P-q)"
ok "queue: options after the name" "rc=1" "$(run "$Q" get $P-q -t 0.1)"
ok "queue: a message that starts with -, after --" "rc=0" "$(run "$Q" put $P-q -- -x)"
ok "queue: ... comes out whole" "-x${nl}rc=0" "$(run "$Q" get -t 0 $P-q)"
printf 'l1\nl2\nl3' | timeout 10 "$Q" put $P-q
ok "queue: put stdin lines (last without newline)" "l1${nl}l2${nl}l3${nl}rc=0" \
	"$(run "$Q" get -n 5 -t 0 $P-q)"
printf 'x\ny\0z\0' | timeout 10 "$Q" put -0 $P-q
ok "queue: -0 both ways, binary-safe" "$(printf 'x\ny\0z\0' | od -An -c)" \
	"$(timeout 10 "$Q" get -0 -n 2 -t 0 $P-q | od -An -c)"
printf '\001\377\t\r\n' | timeout 10 "$Q" put $P-q
ok "queue: any byte but the separator" "$(printf '\001\377\t\r\n' | od -An -c)" \
	"$(timeout 10 "$Q" get -t 0 $P-q | od -An -c)"
ok "queue: too long" "rc=5" "$(run "$Q" put $P-q "$(printf '%070d' 0)")"
timeout 10 "$Q" put $P-q 1 2 3 4
ok "queue: put to a full one, timeout" "rc=1" "$(run "$Q" put -t 0.2 $P-q 5)"
(sleep 0.3; "$Q" get -t 10 $P-q >/dev/null) &
ok "queue: put waits for room" "rc=0" "$(run "$Q" put -t 20 $P-q 5)"
wait
ok "queue: got in order" "2${nl}3${nl}4${nl}5${nl}rc=0" "$(run "$Q" get -n 9 -t 0 $P-q)"
(sleep 0.3; "$Q" put $P-q late) &
ok "queue: get waits for a message" "late${nl}rc=0" "$(run "$Q" get -t 20 $P-q)"
wait
# A get whose output cannot be written leaves its message in the queue.
timeout 10 "$Q" put $P-q keep
ok "queue: get with stdout closed refuses" "rc=5" \
	"$(timeout 10 "$Q" get $P-q >&- 2>"$T/err"; echo "rc=$?")"
ok "queue: ... and takes nothing" "keep${nl}rc=0" "$(run "$Q" get -t 0 $P-q)"
timeout 10 "$Q" put $P-q last
ok "queue: close" "rc=0" "$(run "$Q" close $P-q)"
ok "queue: put to a closed one" "rc=3" "$(run "$Q" put $P-q x)"
ok "queue: closed queue drains first" "last${nl}rc=0" "$(run "$Q" get -t 1 $P-q)"
ok "queue: then get is closed" "rc=3" "$(run "$Q" get -t 1 $P-q)"
ok "queue: a name with /" "rc=2" "$(run "$Q" get a/b)"
ok "queue: bad command" "rc=2" "$(run "$Q" frob $P-q)"
ok "queue: bad -n" "rc=2" "$(run "$Q" get -n x $P-q)"
ok "queue: another kind" "rc=5" "$(run "$Q" get -t 0 $P-k)"
ok "queue: create over another kind" "rc=5" "$(run "$Q" create $P-k)"
ok "queue: rm another kind refused" "rc=5" "$(run "$Q" rm $P-k)"
ok "sem: an object of another kind" "rc=125" "$(run "$SEM" $P-q true)"
ok "sem: --rm of another kind refused" "rc=125" "$(run "$SEM" --rm $P-q)"
ok "queue: rm" "rc=0" "$(run "$Q" rm $P-q)"
ok "queue: rm missing" "rc=4" "$(run "$Q" rm $P-q)"
"$SEM" --rm $P-k
"$SEM" --rm $P-m
"$EV" rm $P-e2

echo "test_tools.sh: $pass passed, $fail failed"
[ "$fail" = 0 ]
