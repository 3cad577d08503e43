#!/bin/sh
# test_tools_probe.sh — bin/conc-sem, bin/conc-queue and bin/conc-event
# read as a user reads issue 11 and their man pages: every subcommand and
# option, the exit codes that tell things apart, names, modes, objects of
# another kind, binary messages, holders killed with SIGKILL. Every run is
# bounded by timeout(1), every wait loop by a count; no test asserts a
# timing. Objects are named conc-tp-<pid>-* and removed at the end.
#   CONC_BIN=dir (default: ./bin)
B=${CONC_BIN:-$(pwd)/bin}
SEM=$B/conc-sem Q=$B/conc-queue EV=$B/conc-event
P=conc-tp-$$
. "$(dirname "$0")/sh_ok.sh"
. "$(dirname "$0")/sh_tools.sh"
T=$(mktemp -d /tmp/conc-tools-probe.XXXXXX) || exit 1
cleanup() {
	[ -n "$bg" ] && kill -9 $bg 2>/dev/null
	rm -rf "$T"
	rm -f /dev/shm/$P-*
}
trap cleanup EXIT
cd "$T" || exit 1
bg=
nl='
'
tab='	'

# ---- all tools: --help, --version, options ----
for t in "$SEM" "$Q" "$EV"; do
	n=$(basename "$t")
	ok "$n --help: on stdout, 0" "rc=0" "$(run "$t" --help | tail -n 1)"
	ok "$n --help: says usage" "yes" "$(timeout 10 "$t" --help | grep -qi usage && echo yes)"
	ok "$n -h as --help" "rc=0" "$(run "$t" -h | tail -n 1)"
	ok "$n --version" "0" "$(timeout 10 "$t" --version | grep -q "^$n " ; echo $?)"
	ok "$n -V as --version" "0" "$(timeout 10 "$t" -V | grep -q "^$n " ; echo $?)"
	run "$t" --no-such-option x >/dev/null
	case $(err) in "$n: "*) ok "$n: a bad option is named by the tool" 1 1 ;;
	*) ok "$n: a bad option is named by the tool" "$n: ..." "$(err)" ;; esac
done
ok "conc-sem: no name: 125" "rc=125" "$(run "$SEM")"
ok "conc-queue: no command: 2" "rc=2" "$(run "$Q")"
ok "conc-event: no command: 2" "rc=2" "$(run "$EV")"
ok "conc-queue: no name: 2" "rc=2" "$(run "$Q" get)"
ok "conc-event: no name: 2" "rc=2" "$(run "$EV" wait)"
ok "conc-event: two names: 2" "rc=2" "$(run "$EV" set $P-a $P-b)"
ok "conc-queue stat: two names: 2" "rc=2" "$(run "$Q" stat $P-a $P-b)"

# Names: '/', empty, too long, . and ..
long=$(printf 'x%.0s' $(seq 256))
for t in "$SEM" "$Q" "$EV"; do
	n=$(basename "$t")
	case $n in conc-sem) args="--status" bad=125 ;; conc-queue) args="stat" bad=2 ;; *) args="status" bad=2 ;; esac
	for name in a/b /x "" "$long" . ..; do
		ok "$n: bad name '$(printf %.12s "$name")'" "rc=$bad" "$(run "$t" $args "$name")"
		[ -n "$name" ] && msg "$n: bad name '$(printf %.12s "$name")'" "$n"
	done
done
ok "conc-sem: a name with /, in use: 125, nothing run" "rc=125" "$(run "$SEM" a/b touch ran)"
ok "conc-sem: ... nothing run" "no" "$([ -e ran ] && echo yes || echo no)"
ok "conc-queue create: a name with /" "rc=2" "$(run "$Q" create a/b)"
ok "conc-event set: a name with /" "rc=2" "$(run "$EV" set a/b)"
name255=$P-$(printf 'y%.0s' $(seq $((255 - ${#P} - 1))))
ok "a name of 255 bytes is fine" "rc=0" "$(run "$EV" set "$name255")"
"$EV" rm "$name255"

# An object of another kind: a plain file under that name, left alone.
printf 'not an object\n' > /dev/shm/$P-plain
ok "conc-sem: a plain file: 125" "rc=125" "$(run "$SEM" $P-plain true)"
msg "conc-sem: a plain file" conc-sem
ok "conc-sem --status: a plain file: 125" "rc=125" "$(run "$SEM" --status $P-plain)"
ok "conc-sem --rm: a plain file refused" "rc=125" "$(run "$SEM" --rm $P-plain)"
ok "conc-queue get: a plain file: 5" "rc=5" "$(run "$Q" get -t 0 $P-plain)"
msg "conc-queue: a plain file" conc-queue
ok "conc-queue create over a plain file: 5" "rc=5" "$(run "$Q" create $P-plain)"
ok "conc-queue rm: a plain file refused" "rc=5" "$(run "$Q" rm $P-plain)"
ok "conc-event wait: a plain file: 5" "rc=5" "$(run "$EV" wait -t 0 $P-plain)"
msg "conc-event: a plain file" conc-event
ok "conc-event set over a plain file: 5" "rc=5" "$(run "$EV" set $P-plain)"
ok "conc-event clear over a plain file: 5" "rc=5" "$(run "$EV" clear $P-plain)"
ok "conc-event rm: a plain file refused" "rc=5" "$(run "$EV" rm $P-plain)"
ok "the plain file is left alone" "not an object" "$(cat /dev/shm/$P-plain)"
: > /dev/shm/$P-empty
ok "an empty file: not a queue" "rc=5" "$(run "$Q" stat $P-empty)"
ok "an empty file: not an event" "rc=5" "$(run "$EV" status $P-empty)"
ok "an empty file: not a semaphore" "rc=125" "$(run "$SEM" -w 0 $P-empty true)"
ok "the empty file is left alone" "0" "$(stat -c %s /dev/shm/$P-empty)"
# Each kind refuses the others.
"$Q" create $P-kq && "$EV" set $P-ke && "$SEM" $P-ks true
ok "a queue is not an event" "rc=5" "$(run "$EV" status $P-kq)"
ok "a queue is not a semaphore" "rc=125" "$(run "$SEM" -w 0 $P-kq true)"
ok "an event is not a queue" "rc=5" "$(run "$Q" put -t 0 $P-ke x)"
ok "an event is not a semaphore" "rc=125" "$(run "$SEM" --status $P-ke)"
ok "a semaphore is not a queue" "rc=5" "$(run "$Q" get -t 0 $P-ks)"
ok "a semaphore is not an event" "rc=5" "$(run "$EV" wait -t 0 $P-ks)"
ok "... and each is still what it was" "messages 0 set" \
	"$(timeout 10 "$Q" stat $P-kq) $(timeout 10 "$EV" status $P-ke)"

# --mode, for each tool that creates.
ok "conc-sem --mode 640" "rc=0 640" "$(run "$SEM" --mode 640 $P-m1 true) $(stat -c %a /dev/shm/$P-m1)"
ok "conc-sem -m 644" "rc=0 644" "$(run "$SEM" -m 644 $P-m2 true) $(stat -c %a /dev/shm/$P-m2)"
ok "conc-sem --mode=604" "rc=0 604" "$(run "$SEM" --mode=604 $P-m3 true) $(stat -c %a /dev/shm/$P-m3)"
ok "conc-queue create --mode 640" "rc=0 640" "$(run "$Q" create --mode 640 $P-m4) $(stat -c %a /dev/shm/$P-m4)"
ok "conc-event set --mode 644" "rc=0 644" "$(run "$EV" set --mode 644 $P-m5) $(stat -c %a /dev/shm/$P-m5)"
ok "conc-event clear -m 640" "rc=0 640" "$(run "$EV" clear -m 640 $P-m6) $(stat -c %a /dev/shm/$P-m6)"
ok "default mode 0600" "600 600 600" \
	"$("$SEM" $P-d1 true; "$Q" create $P-d2; "$EV" clear $P-d3; stat -c %a /dev/shm/$P-d1 /dev/shm/$P-d2 /dev/shm/$P-d3 | tr '\n' ' ' | sed 's/ $//')"
ok "umask does not narrow --mode" "644" "$(umask 077; "$EV" set --mode 644 $P-m7; stat -c %a /dev/shm/$P-m7)"
for m in abc 0 400 7777 99; do
	ok "conc-sem bad --mode $m: 125, nothing made" "rc=125 no" \
		"$(run "$SEM" --mode $m $P-bm true) $([ -e /dev/shm/$P-bm ] && echo yes || echo no)"
	ok "conc-queue bad --mode $m: 2" "rc=2" "$(run "$Q" create --mode $m $P-bm)"
	ok "conc-event bad --mode $m: 2" "rc=2" "$(run "$EV" set --mode $m $P-bm)"
done
msg "conc-event bad --mode" conc-event
# ... saying what is wrong, not a rule that --mode 666 breaks.
case $(err) in
*"nobody else"*) ok "bad --mode: the message says what a mode needs" "no 'nobody else'" "$(err)" ;;
*) ok "bad --mode: the message says what a mode needs" 1 1 ;;
esac

# -t / -w: seconds, fractions allowed, every tool.
"$Q" create $P-t
"$EV" clear $P-te
# The holder outlasts the 51 runs below however slow they are (killed after).
"$SEM" $P-ts sleep 600 & bg=$!
until_ [ "$(holders $P-ts)" = 1 ]
for t in 0 0.2 .1 0.05 1e-1; do
	ok "queue get -t $t" "rc=1" "$(run "$Q" get -t $t $P-t)"
	ok "event wait -t $t" "rc=1" "$(run "$EV" wait -t $t $P-te)"
	ok "sem -w $t" "rc=124" "$(run "$SEM" -w $t $P-ts true)"
	ok "queue get --timeout=$t" "rc=1" "$(run "$Q" get --timeout=$t $P-t)"
	ok "event wait --timeout=$t" "rc=1" "$(run "$EV" wait --timeout=$t $P-te)"
	ok "sem --wait=$t" "rc=124" "$(run "$SEM" --wait=$t $P-ts true)"
done
for t in -1 x 1s '' 0.5.5 inf nan; do
	ok "queue get -t '$t': 2" "rc=2" "$(run "$Q" get -t "$t" $P-t)"
	ok "event wait -t '$t': 2" "rc=2" "$(run "$EV" wait -t "$t" $P-te)"
	ok "sem -w '$t': 125" "rc=125" "$(run "$SEM" -w "$t" $P-ts true)"
done
msg "sem bad -w" conc-sem
kill -9 $bg; wait $bg 2>/dev/null; bg=

# ---- conc-sem ----
ok "sem: the command's status" "rc=0 rc=1 rc=42" \
	"$(run "$SEM" $P-s true) $(run "$SEM" $P-s false) $(run "$SEM" $P-s sh -c 'exit 42')"
ok "sem: arguments as they are, no shell" "[a b] [\$HOME] [*]${nl}rc=0" \
	"$(run "$SEM" $P-s printf '[%s] ' 'a b' '$HOME' '*' | sed 's/ rc=/\nrc=/')"
ok "sem: stdin reaches the command" "hi${nl}rc=0" "$(echo hi | run "$SEM" $P-s cat)"
ok "sem: stderr reaches ours" "oops" "$(timeout 10 "$SEM" $P-s sh -c 'echo oops >&2' 2>&1)"
ok "sem: -- before the command" "-x${nl}rc=0" "$(run "$SEM" $P-s -- echo -x)"
ok "sem: options of the command after --" "/${nl}rc=0" "$(run "$SEM" $P-s -- ls -d /)"
ok "sem: 128+N for a signal" "rc=137" "$(run "$SEM" $P-s sh -c 'kill -9 $$')"
ok "sem: not found 127" "rc=127" "$(run "$SEM" $P-s /no/such)"
msg "sem: not found" conc-sem
ok "sem: not executable 126" "rc=126" "$(run "$SEM" $P-s /dev/null)"
ok "sem: -n 1 is the default" "$P-s: 1 permits, 1 free" "$(timeout 10 "$SEM" --status $P-s | head -n 1 | sed 's/1 permit,/1 permits,/')"
for n in 0 -1 x 2147483648 1.5; do
	ok "sem: bad -n $n: 125" "rc=125" "$(run "$SEM" -n "$n" $P-n true)"
done
ok "sem: -n 2147483647 is allowed" "rc=0" "$(run "$SEM" -n 2147483647 $P-big true)"
ok "sem: --permits=3" "rc=0" "$(run "$SEM" --permits=3 $P-n3 true)"
ok "sem: ... without -n any number is accepted" "rc=0" "$(run "$SEM" $P-n3 true)"
ok "sem: ... a different -n refused" "rc=125" "$(run "$SEM" -n 2 $P-n3 true)"
msg "sem: a different -n" conc-sem

# N permits: N commands at once, the next waits (-w 0 gives up).
rm -f go
for i in 1 2 3; do
	"$SEM" -n 3 $P-n3 sh -c 'i=0; while [ ! -e go ] && [ $i -lt 3000 ]; do sleep 0.05; i=$((i + 1)); done' &
	bg="$bg $!"
done
until_ [ "$(holders $P-n3)" = 3 ]
ok "sem: three holders of three permits" "3" "$(holders $P-n3)"
[ "$(holders $P-n3)" = 3 ] || { echo "holders: $bg" >&2; timeout 10 "$SEM" --status $P-n3 >&2; ps -o pid,ppid,stat,etime,cmd -p "$(echo $bg | tr ' ' ,)" >&2; }
ok "sem: the fourth cannot have one" "rc=124" "$(run "$SEM" -w 0 $P-n3 touch fourth)"
ok "sem: ... and did not run" "no" "$([ -e fourth ] && echo yes || echo no)"
ok "sem: --status header" "$P-n3: 3 permits, 0 free" "$(timeout 10 "$SEM" --status $P-n3 | head -n 1)"
ok "sem: --status: pid, permits, since, command, tab-separated" "3" \
	"$(timeout 10 "$SEM" --status $P-n3 | grep -cE "^[0-9]+${tab}1${tab}[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}${tab}sh -c ")"
st=$(timeout 10 "$SEM" --status $P-n3 | grep '^[0-9]' | cut -f1 | sort -n | tr '\n' ' ')
ok "sem: --status pids are the conc-sem processes" "$(for p in $bg; do echo $p; done | sort -n | tr '\n' ' ')" "$st"
# One waits; a SIGKILLed holder's permit goes to it, and it is told.
"$SEM" -w 20 $P-n3 sh -c 'echo "died=$CONC_SEM_OWNER_DIED" > waiter' & w=$!
set -- $bg
kill -9 "$1"
wait "$1" 2>/dev/null
until_ [ -s waiter ]
wait $w
ok "sem: the waiter ran on the dead holder's permit" "died=1" "$(cat waiter 2>/dev/null)"
touch go
for p in $bg; do wait $p 2>/dev/null; done
bg=
ok "sem: all permits back" "$P-n3: 3 permits, 3 free" "$(timeout 10 "$SEM" --status $P-n3 | head -n 1)"
ok "sem: no holder listed" "0" "$(holders $P-n3)"
# No waiter: the next one to take the permit learns it, the one after not.
"$SEM" $P-k sleep 600 & bg=$!
until_ [ "$(holders $P-k)" = 1 ]
kill -9 $bg
wait $bg 2>/dev/null
bg=
ok "sem: the next after a SIGKILLed holder is told" "died=1${nl}rc=0" \
	"$(run "$SEM" -w 20 $P-k sh -c 'echo died=$CONC_SEM_OWNER_DIED')"
ok "sem: ... the one after is not" "died=${nl}rc=0" \
	"$(run "$SEM" -w 20 $P-k sh -c 'echo died=$CONC_SEM_OWNER_DIED')"
# ... nor one that inherited the variable (a conc-sem run by a command
# that was told): only its own permit's story reaches its command.
ok "sem: an inherited CONC_SEM_OWNER_DIED is not passed on" "died=unset${nl}rc=0" \
	"$(CONC_SEM_OWNER_DIED=1 run "$SEM" -w 20 $P-k sh -c 'echo died=${CONC_SEM_OWNER_DIED-unset}')"
# Standard fds closed for conc-sem are closed for its command, as without
# conc-sem (not /dev/null: a write to it would not fail).
fds='for f in 0 1 2; do test -e /proc/$$/fd/$f && s=open || s=shut; printf "$f=$s " >&3; done'
ok "sem: the command's fds 0-2 as given" "0=open 1=open 2=open " \
	"$(timeout 20 "$SEM" $P-f sh -c "$fds" 3>&1 </dev/null >/dev/null 2>/dev/null)"
ok "sem: ... closed stdin and stdout stay closed" "0=shut 1=shut 2=open " \
	"$(timeout 20 "$SEM" $P-f sh -c "$fds" 3>&1 <&- >&- 2>/dev/null)"
ok "sem: ... closed stderr too" "0=open 1=open 2=shut " \
	"$(timeout 20 "$SEM" $P-f sh -c "$fds" 3>&1 </dev/null >/dev/null 2>&-)"
# ... and the signal mask it was given, as for a command run without it.
if command -v perl >/dev/null 2>&1; then
	BLOCK="perl -MPOSIX -e sigprocmask(SIG_BLOCK,POSIX::SigSet->new(SIGUSR1))||die;exec(@ARGV)||die"
	ok "sem: the command's signal mask is conc-sem's (SIGUSR1 blocked)" "$($BLOCK grep SigBlk /proc/self/status)" \
		"$(timeout 20 $BLOCK "$SEM" $P-f grep SigBlk /proc/self/status)"
else
	echo "skip: conc-sem's signal mask (no perl to block a signal)"
fi
# The holder's command dies with it.
"$SEM" $P-k2 sh -c 'echo $$ > cmdpid; sleep 30' & bg=$!
until_ [ -s cmdpid ]
kill -9 $bg
wait $bg 2>/dev/null
bg=
gone() { ! kill -0 "$1" 2>/dev/null || [ "$(awk '{ print $3 }' /proc/$1/stat 2>/dev/null)" = Z ]; }
ok "sem: a SIGKILLed holder's command is killed" "yes" "$(until_ gone "$(cat cmdpid)" && echo yes)"
# Signals to conc-sem reach the command.
"$SEM" $P-k3 sh -c 'trap "echo got-term > term; exit 3" TERM; echo > ready; sleep 30 & wait' & p=$!
until_ [ -e ready ]
kill -TERM $p
wait $p
ok "sem: SIGTERM passed to the command, its status" "3 got-term" "$? $(cat term 2>/dev/null)"
ok "sem: --rm" "rc=0" "$(run "$SEM" --rm $P-k3)"
ok "sem: --rm again: 4" "rc=4" "$(run "$SEM" --rm $P-k3)"
msg "sem: --rm missing" conc-sem
ok "sem: --status missing: 4" "rc=4" "$(run "$SEM" --status $P-nosuch)"
ok "sem: --rm while held: the holder goes on" "rc=0" \
	"$(run "$SEM" $P-k4 sh -c "'$SEM' --rm $P-k4 && echo removed > rmd")"
ok "sem: ... and removed it" "removed no" "$(cat rmd) $([ -e /dev/shm/$P-k4 ] && echo yes || echo no)"
# Many SIGKILLs: every permit back.
for i in $(seq 10); do
	"$SEM" -n 3 $P-storm sleep 30 & bg="$bg $!"
done
until_ [ "$(holders $P-storm)" = 3 ]
for p in $bg; do kill -9 $p; done
wait 2>/dev/null
bg=
ok "sem: after ten SIGKILLs, three permits free" "rc=0 $P-storm: 3 permits, 3 free" \
	"$(run "$SEM" -w 20 $P-storm true) $(timeout 10 "$SEM" --status $P-storm | head -n 1)"

# ---- conc-queue ----
ok "queue: get from a missing one: 4" "rc=4" "$(run "$Q" get -t 0 $P-q)"
msg "queue: missing" conc-queue
for c in "stat" "close" "rm" "put"; do
	ok "queue: $c a missing one: 4" "rc=4" "$(run "$Q" $c $P-q)"
done
ok "queue: create" "rc=0" "$(run "$Q" create $P-q)"
ok "queue: stat of a new one" "messages 0${nl}rc=0" "$(run "$Q" stat $P-q)"
ok "queue: get from an empty one, -t 0: 1" "rc=1" "$(run "$Q" get -t 0 $P-q)"
ok "queue: put several" "rc=0" "$(run "$Q" put $P-q one 'two words' '' "quote'd")"
ok "queue: stat counts them" "messages 4${nl}rc=0" "$(run "$Q" stat $P-q)"
ok "queue: get one, the oldest" "one${nl}rc=0" "$(run "$Q" get $P-q)"
ok "queue: get -n 2" "two words${nl}${nl}rc=0" "$(run "$Q" get -n 2 $P-q)"
ok "queue: get -n more than there are" "quote'd${nl}rc=0" "$(run "$Q" get -n 10 -t 0 $P-q)"
ok "queue: get --count=1" "rc=1" "$(run "$Q" get --count=1 -t 0 $P-q)"
for n in 0 -1 x; do
	ok "queue: bad -n $n: 2" "rc=2" "$(run "$Q" get -n "$n" -t 0 $P-q)"
done
printf 'a\n\nb\n' | timeout 10 "$Q" put $P-q
ok "queue: stdin lines, an empty one kept" "a${nl}${nl}b${nl}rc=0" "$(run "$Q" get -n 5 -t 0 $P-q)"
timeout 10 "$Q" put $P-q kept1 kept2
ok "queue: a get that cannot write out: 5" "rc=5" \
	"$(timeout 10 "$Q" get -n 2 $P-q > /dev/full 2>"$T/err"; echo "rc=$?")"
msg "queue: cannot write out" conc-queue
ok "queue: ... took nothing" "kept1${nl}kept2${nl}rc=0" "$(run "$Q" get -n 2 -t 0 $P-q)"
ok "queue: empty stdin puts nothing" "rc=0 messages 0" "$(run "$Q" put $P-q </dev/null) $(timeout 10 "$Q" stat $P-q)"
# Binary-safe: every byte but the separator, both ways.
awk 'BEGIN { for (i = 1; i < 256; i++) if (i != 10) printf "%c", i; printf "\n" }' > bytes
LC_ALL=C timeout 10 "$Q" put $P-q < bytes
ok "queue: bytes 1..255 but newline, whole" "same" \
	"$(timeout 10 "$Q" get -t 0 $P-q | cmp -s - bytes && echo same)"
awk 'BEGIN { for (i = 1; i < 256; i++) printf "%c", i; printf "%c", 0 }' > bytes0
timeout 10 "$Q" put -0 $P-q < bytes0
ok "queue: -0: bytes 1..255 with the newline, whole" "same" \
	"$(timeout 10 "$Q" get -0 -t 0 $P-q | cmp -s - bytes0 && echo same)"
printf 'x\ny\0\0z' | timeout 10 "$Q" put --null $P-q
ok "queue: --null: records, an empty one, the last unterminated" "$(printf 'x\ny\0\0z\0' | od -An -c)" \
	"$(timeout 10 "$Q" get --null -n 5 -t 0 $P-q | od -An -c)"
ok "queue: -0 after the name too" "rc=0" "$(printf 'p\0' | run "$Q" put $P-q -0)"
ok "queue: ... one message" "p${nl}rc=0" "$(run "$Q" get -t 0 $P-q)"
# Size limits: -s bytes per message, exactly.
ok "queue: create -c 2 -s 5" "rc=0" "$(run "$Q" create -c 2 -s 5 $P-q2)"
ok "queue: a message of exactly -s bytes" "rc=0" "$(run "$Q" put $P-q2 12345)"
ok "queue: one byte more: 5" "rc=5" "$(run "$Q" put $P-q2 123456)"
msg "queue: too long" conc-queue
ok "queue: the -s message comes back" "12345${nl}rc=0" "$(run "$Q" get -t 0 $P-q2)"
ok "queue: full after -c" "rc=0 rc=1" "$(run "$Q" put $P-q2 a b) $(run "$Q" put -t 0 $P-q2 c)"
ok "queue: put to a full one, -t 0.1: 1" "rc=1" "$(run "$Q" put -t 0.1 $P-q2 c)"
ok "queue: the messages before the full point were put" "rc=1 messages 2" \
	"$(run "$Q" get -t 0 $P-q2 >/dev/null; run "$Q" put -t 0 $P-q2 c d) $(timeout 10 "$Q" stat $P-q2)"
ok "queue: ... in order" "b${nl}c${nl}rc=0" "$(run "$Q" get -n 2 -t 0 $P-q2)"
ok "queue: create -c 5 over -c 2: 5" "rc=5" "$(run "$Q" create -c 5 -s 5 $P-q2)"
ok "queue: create -s 6 over -s 5: 5" "rc=5" "$(run "$Q" create -c 2 -s 6 $P-q2)"
ok "queue: create again, the same: 0" "rc=0" "$(run "$Q" create -c 2 -s 5 $P-q2)"
ok "queue: --capacity= --max-msg=" "rc=0" "$(run "$Q" create --capacity=3 --max-msg=9 $P-q3)"
for o in "-c 0" "-c x" "-c 16777217" "-s 0" "-s 16777217" "-s -1"; do
	ok "queue: create $o: 2" "rc=2" "$(run "$Q" create $o $P-bad)"
done
ok "queue: ... none made" "no" "$([ -e /dev/shm/$P-bad ] && echo yes || echo no)"
# Waits, with a second process.
(sleep 0.2; timeout 10 "$Q" put $P-q later) &
ok "queue: get waits for a put" "later${nl}rc=0" "$(run "$Q" get -t 20 $P-q)"
wait
(sleep 0.2; timeout 10 "$Q" close $P-q) &
ok "queue: a waiting get sees the close: 3" "rc=3" "$(run "$Q" get -t 20 $P-q)"
wait
ok "queue: put to a closed one: 3" "rc=3" "$(run "$Q" put $P-q x)"
msg "queue: closed" conc-queue
ok "queue: get from a closed empty one: 3" "rc=3" "$(run "$Q" get -t 0 $P-q)"
ok "queue: close twice" "rc=0" "$(run "$Q" close $P-q)"
ok "queue: empty/timeout, closed, missing: 1 3 4" "1 3 4" \
	"$(timeout 10 "$Q" get -t 0 $P-q3 2>/dev/null; a=$?; timeout 10 "$Q" get -t 0 $P-q 2>/dev/null; b=$?
	   timeout 10 "$Q" get -t 0 $P-nosuch 2>/dev/null; echo "$a $b $?")"
# A get killed while it waits leaves the queue working.
"$Q" get $P-q3 > /dev/null & k=$!
sleep 0.2
kill -9 $k
wait $k 2>/dev/null
ok "queue: after a waiting get was SIGKILLed" "ok${nl}rc=0" "$(timeout 10 "$Q" put $P-q3 ok; run "$Q" get -t 5 $P-q3)"
# Four putters, two getters, 200 messages: each one comes out once. A get
# is a process each: at load 40 the 200 take minutes, so every one waits
# as long as it takes. The queue is closed once the putters are done (all
# their messages in), and the getters end when it is closed and empty:
# no verdict depends on how fast any of it goes (the test closed it after
# 20 s without a new message, which a stalled getter could make happen).
"$Q" create -c 8 $P-mq
puts=
for p in 1 2 3 4; do
	(for i in $(seq 50); do echo "$p-$i"; done | timeout 1200 "$Q" put $P-mq) &
	puts="$puts $!"
done
gets=
for g in 1 2; do
	(while m=$(timeout 1200 "$Q" get $P-mq); do echo "$m"; done > got.$g) &
	gets="$gets $!"
done
bg="$puts $gets"
for p in $puts; do wait $p; done
timeout 10 "$Q" close $P-mq
for p in $gets; do wait $p; done
bg=
ok "queue: 4 putters, 2 getters: every message once" "200 200" \
	"$(cat got.1 got.2 | sort -u | wc -l | tr -d ' ') $(cat got.1 got.2 | wc -l | tr -d ' ')"
ok "queue: each putter's messages in its order" "ok" \
	"$(for p in 1 2 3 4; do grep -h "^$p-" got.1 > o1; grep -h "^$p-" got.2 > o2; sort -t- -k2n o1 | cmp -s - o1 && sort -t- -k2n o2 | cmp -s - o2 || echo "putter $p out of order"; done; echo ok)"
ok "queue: rm" "rc=0" "$(run "$Q" rm $P-q)"
ok "queue: rm again: 4" "rc=4" "$(run "$Q" rm $P-q)"
ok "queue: stat after rm: 4" "rc=4" "$(run "$Q" stat $P-q)"
ok "queue: bad subcommand: 2" "rc=2" "$(run "$Q" frobnicate $P-q3)"

# ---- conc-event ----
# asleep PID: PID sleeps in the kernel (a tool sleeps nowhere but in its
# wait), or is gone.
asleep() {
	case $(cut -d' ' -f3 /proc/$1/stat 2>/dev/null) in S|Z|"") return 0 ;; esac
	return 1
}
ok "event: wait on a missing one: 4" "rc=4" "$(run "$EV" wait -t 0 $P-e)"
msg "event: missing" conc-event
ok "event: status of a missing one: 4" "rc=4" "$(run "$EV" status $P-e)"
ok "event: rm a missing one: 4" "rc=4" "$(run "$EV" rm $P-e)"
ok "event: wait without -t on a missing one: 4, no wait" "rc=4" "$(run "$EV" wait $P-e)"
ok "event: set creates it, set" "rc=0 set" "$(run "$EV" set $P-e) $(timeout 10 "$EV" status $P-e)"
ok "event: set again" "rc=0" "$(run "$EV" set $P-e)"
ok "event: wait on a set one: 0" "rc=0" "$(run "$EV" wait $P-e)"
ok "event: clear" "rc=0" "$(run "$EV" clear $P-e)"
ok "event: status clear: 1" "clear${nl}rc=1" "$(run "$EV" status $P-e)"
ok "event: clear again" "rc=0" "$(run "$EV" clear $P-e)"
ok "event: clear creates it clear" "rc=0 clear" "$(run "$EV" clear $P-e2) $(timeout 10 "$EV" status $P-e2)"
# Several waiters, one set wakes them all.
for i in 1 2 3; do
	(timeout 20 "$EV" wait $P-e; echo "$?" > woke.$i) &
done
sleep 0.2
"$EV" set $P-e
wait
ok "event: one set wakes every waiter" "0 0 0" "$(cat woke.1 woke.2 woke.3 | tr '\n' ' ' | sed 's/ $//')"
# A set and clear while it waits still ends the wait (the man page). The
# waiter must be waiting first: a loaded machine may start it late.
"$EV" clear $P-e
rm -f evpid
(timeout 20 sh -c 'echo $$ > evpid; exec "$0" wait -t 15 "$1"' "$EV" $P-e; echo "$?" > pulse) &
until_ [ -s evpid ]
until_ asleep "$(cat evpid)"
"$EV" set $P-e; "$EV" clear $P-e
wait
ok "event: set then clear at once still wakes a waiter" "0" "$(cat pulse)"
rm -f evpid
(timeout 20 sh -c 'echo $$ > evpid; exec "$0" wait -t 2 "$1"' "$EV" $P-e >/dev/null 2>&1; echo "$?" > rmwait) &
until_ [ -s evpid ]
until_ asleep "$(cat evpid)"
"$EV" rm $P-e
wait
ok "event: rm while one waits: it goes on waiting (times out)" "1" "$(cat rmwait)"
ok "event: gone after rm" "rc=4" "$(run "$EV" status $P-e)"
ok "event: bad subcommand: 2" "rc=2" "$(run "$EV" toggle $P-e2)"
ok "event: -t for status: 2" "rc=2" "$(run "$EV" status -t 1 $P-e2)"
ok "event: --mode for wait: 2" "rc=2" "$(run "$EV" wait --mode 600 $P-e2)"
ok "event: rm" "rc=0" "$(run "$EV" rm $P-e2)"

# ---- conc-sem --status: the command of a holder, however its options were
# spelt (getopt_long takes a long option shortened: --wa 5 is --wait 5) ----
"$SEM" --wa 600 --perm 2 --mo 600 $P-ab sleep 600 & bg=$!
until_ [ "$(holders $P-ab)" = 1 ]
ok "sem --status: the command after shortened long options" "sleep 600" \
	"$(timeout 10 "$SEM" --status $P-ab | grep '^[0-9]' | cut -f4)"
kill -9 $bg; wait $bg 2>/dev/null; bg=
"$SEM" --wait=600 -n2 -- $P-ab -- sleep 600 & bg=$!
until_ [ "$(holders $P-ab)" = 1 ]
ok "sem --status: ... after --opt=value, -nN and both --" "sleep 600" \
	"$(timeout 10 "$SEM" --status $P-ab | grep '^[0-9]' | cut -f4)"
kill -9 $bg; wait $bg 2>/dev/null; bg=

echo "test_tools_probe: $pass passed, $fail failed"
[ "$fail" = 0 ]
