#!/bin/sh
# test_tools_edge.sh — conc-sem, conc-queue and conc-event at their edges,
# as a script meets them: output that cannot be written (a full disk, a
# closed stdout), every --mode a tool accepts giving an object that can be
# used again, numbers out of range, signals while waiting, peers killed
# holding permits, many callers at once, and segments a hostile peer
# filled with garbage (an error or a normal answer, never a crash or a
# wait past the timeout). Every run is bounded by timeout(1); no test
# asserts a timing. Objects are named conc-te-<pid>-*, removed at the end.
#   CONC_BIN=dir (default: ./bin)
B=${CONC_BIN:-$(pwd)/bin}
SEM=$B/conc-sem Q=$B/conc-queue EV=$B/conc-event
P=conc-te-$$
. "$(dirname "$0")/sh_ok.sh"
. "$(dirname "$0")/sh_tools.sh"
T=$(mktemp -d /tmp/conc-tools-edge.XXXXXX) || exit 1
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

# rc CMD...: only "rc=N" (its stdout dropped, its stderr in $T/err).
rc() { timeout 60 "$@" >/dev/null 2>"$T/err"; echo "rc=$?"; }
# to_full / to_closed CMD...: "rc=N" of CMD with stdout on /dev/full, closed.
to_full() { timeout 60 "$@" >/dev/full 2>"$T/err"; echo "rc=$?"; }
to_closed() { timeout 60 "$@" >&- 2>"$T/err"; echo "rc=$?"; }

# ---- output that cannot be written: an error, never a silent 0 ----
"$EV" set $P-o; "$Q" create $P-oq; "$SEM" $P-os true
ok "event status > /dev/full: 5" "rc=5" "$(to_full "$EV" status $P-o)"
msg "event status > /dev/full" conc-event
ok "queue stat > /dev/full: 5" "rc=5" "$(to_full "$Q" stat $P-oq)"
msg "queue stat > /dev/full" conc-queue
ok "sem --status > /dev/full: 125" "rc=125" "$(to_full "$SEM" --status $P-os)"
msg "sem --status > /dev/full" conc-sem
ok "event status, stdout closed: 5" "rc=5" "$(to_closed "$EV" status $P-o)"
ok "queue stat, stdout closed: 5" "rc=5" "$(to_closed "$Q" stat $P-oq)"
ok "sem --status, stdout closed: 125" "rc=125" "$(to_closed "$SEM" --status $P-os)"
for t in "$EV:5" "$Q:5" "$SEM:125"; do
	n=$(basename "${t%:*}")
	for o in --help --version; do
		ok "$n $o > /dev/full: ${t##*:}" "rc=${t##*:}" "$(to_full "${t%:*}" $o)"
		msg "$n $o > /dev/full" "$n"
	done
done
ok "... and to a pipe, 0" "rc=0 rc=0 rc=0" \
	"$(rc "$EV" --version) $(rc "$Q" --help) $(rc "$SEM" --version)"
ok "event status still 0 set, 1 clear" "set${nl}rc=0 clear${nl}rc=1" \
	"$(run "$EV" status $P-o) $("$EV" clear $P-o; run "$EV" status $P-o)"
ok "queue get, stdout closed: 5, nothing taken" "rc=5 messages 1" \
	"$("$Q" put $P-oq m; to_closed "$Q" get -t 0 $P-oq) $(timeout 10 "$Q" stat $P-oq)"

# ---- --mode: every mode a tool accepts gives an object that it, the next
# calls with and without --mode, and --status/stat/--rm can use, even one
# that group or others may write (the tools open it by its fd) ----
for m in 600 640 644 604 660 666 602 620; do
	ok "sem --mode $m: made, used again with and without --mode" "rc=0 $m rc=0 rc=0 rc=0 rc=0" \
		"$(run "$SEM" --mode $m $P-ms$m true) $(stat -c %a /dev/shm/$P-ms$m) $(run "$SEM" $P-ms$m true) $(run "$SEM" --mode $m $P-ms$m true) $(rc "$SEM" --status $P-ms$m) $(run "$SEM" --rm $P-ms$m)"
	ok "sem --mode $m: removed" "no" "$([ -e /dev/shm/$P-ms$m ] && echo yes || echo no)"
	ok "queue --mode $m: made, used again with and without --mode" "rc=0 $m rc=0 rc=0 rc=0 x${nl}rc=0 messages 0${nl}rc=0 rc=0 no" \
		"$(run "$Q" create --mode $m $P-mq$m) $(stat -c %a /dev/shm/$P-mq$m) $(run "$Q" create $P-mq$m) $(run "$Q" create --mode $m $P-mq$m) $(run "$Q" put $P-mq$m x) $(run "$Q" get -t 0 $P-mq$m) $(run "$Q" stat $P-mq$m) $(run "$Q" rm $P-mq$m) $([ -e /dev/shm/$P-mq$m ] && echo yes || echo no)"
	ok "event --mode $m: made, used again with and without --mode" "rc=0 $m rc=0 rc=0 rc=0 clear${nl}rc=1 rc=0 no" \
		"$(run "$EV" set --mode $m $P-me$m) $(stat -c %a /dev/shm/$P-me$m) $(run "$EV" wait -t 0 $P-me$m) $(run "$EV" set $P-me$m) $(run "$EV" clear --mode $m $P-me$m) $(run "$EV" status $P-me$m) $(run "$EV" rm $P-me$m) $([ -e /dev/shm/$P-me$m ] && echo yes || echo no)"
done

# Another user's object, whatever its mode, is not opened (as the library's
# check: owned by the caller or root); only root can make one here.
if [ "$(id -u)" = 0 ] && "$SEM" --mode 666 $P-mo true && chown 65534 /dev/shm/$P-mo; then
	ok "sem of another user, mode 666: refused" "rc=125" "$(run "$SEM" --status $P-mo)"
	ok "sem of another user, mode 666: Permission denied" "conc-sem: $P-mo: Permission denied" "$(err)"
	rm -f /dev/shm/$P-mo
fi
# A link under the name is not followed, even to one of the caller's.
"$Q" create --mode 666 $P-ml && ln -s $P-ml /dev/shm/$P-mk
ok "queue: a symbolic link to a 666 queue: refused" "rc=5" "$(run "$Q" stat $P-mk)"
rm -f /dev/shm/$P-mk /dev/shm/$P-ml

# ---- input that cannot be read, sizes that cannot be made ----
"$Q" create $P-in
ok "queue put, stdin closed: 5, nothing put" "rc=5 messages 0" \
	"$(timeout 60 "$Q" put $P-in <&- 2>"$T/err"; echo "rc=$?") $(timeout 10 "$Q" stat $P-in)"
msg "queue put, stdin closed" conc-queue
ok "queue put, stdin closed but messages given: 0" "rc=0" \
	"$(timeout 60 "$Q" put $P-in m <&- 2>"$T/err"; echo "rc=$?")"
ok "queue create, too many bytes (-c and -s at most): 5, nothing made" "rc=5 no" \
	"$(run "$Q" create -c 16777216 -s 16777216 $P-huge) $([ -e /dev/shm/$P-huge ] && echo yes || echo no)"
ok "... not said to exist" "no" "$(grep -q exists "$T/err" && echo yes || echo no)"
msg "queue create, too many bytes" conc-queue
# The file holds the capacity rounded up to a power of two (conc-queue(1)):
# 32769 messages of 16 MiB, under 1 TiB, take a file of 65536 of them.
ok "queue create, a capacity rounded up past 1 TiB: 5, nothing made" "rc=5 no" \
	"$(run "$Q" create -c 32769 -s 16777216 $P-huge) $([ -e /dev/shm/$P-huge ] && echo yes || echo no)"
ok "... one that exists with another geometry still says so" "rc=5 yes" \
	"$(run "$Q" create -c 3 $P-in) $(grep -q exists "$T/err" && echo yes || echo no)"

# ---- numbers: out of range is a usage error, never a wrap ----
for v in 99999999999999999999 -1 -0.5 1e400 9.3e9 ' ' 0x; do
	ok "event wait -t '$v': 2" "rc=2" "$(run "$EV" wait -t "$v" $P-o)"
	ok "queue get -t '$v': 2" "rc=2" "$(run "$Q" get -t "$v" $P-in)"
	ok "sem -w '$v': 125" "rc=125" "$(run "$SEM" -w "$v" $P-os true)"
done
for v in 99999999999999999999 4294967296 -1 1x ''; do
	ok "queue get -n '$v': 2" "rc=2" "$(run "$Q" get -n "$v" -t 0 $P-in)"
	ok "queue create -c '$v': 2" "rc=2" "$(run "$Q" create -c "$v" $P-nn)"
	ok "sem -n '$v': 125" "rc=125" "$(run "$SEM" -n "$v" $P-nn true)"
done
ok "... nothing made" "no" "$([ -e /dev/shm/$P-nn ] && echo yes || echo no)"
ok "queue get -n 4294967295: what there is" "m${nl}rc=0" "$(run "$Q" get -n 4294967295 -t 0 $P-in)"
for o in "get -c 5" "get -s 9" "get -m 600" "put -n 2" "put -c 1" "stat -t 1" "close -t 1" \
	 "rm -0" "create -0" "create -t 1" "create -n 2"; do
	ok "queue $o: not an option of that command, 2" "rc=2" "$(run "$Q" $o $P-in)"
done
msg "queue create -n" conc-queue
ok "... the queue is as it was: there, not closed" "rc=0 rc=0" "$(run "$Q" create $P-in) $(run "$Q" put -t 0 $P-in z)"
"$SEM" $P-both true
ok "sem --status --rm: 125, nothing removed" "rc=125 yes" \
	"$(run "$SEM" --status --rm $P-both) $([ -e /dev/shm/$P-both ] && echo yes || echo no)"
msg "sem --status --rm" conc-sem
ok "sem --rm --status: 125, nothing removed" "rc=125 yes" \
	"$(run "$SEM" --rm --status $P-both) $([ -e /dev/shm/$P-both ] && echo yes || echo no)"
ok "sem: an empty command: 127" "rc=127" "$(run "$SEM" $P-os '')"
ok "sem: a directory as the command: 126" "rc=126" "$(run "$SEM" $P-os /)"

# ---- signals while waiting: the default death (128+N), the object usable ----
# A script's background job ignores SIGINT; env puts the default back, as
# a terminal's foreground job has it.
bgrun() { env --default-signal=INT,TERM "$@" & }
gone() { [ "$(awk '{ print $3 }' /proc/$1/stat 2>/dev/null)" != S ]; }
is_tool() { case $(cat /proc/$1/comm 2>/dev/null) in conc-*) true ;; *) false ;; esac; }
dead_by() {	# dead_by SIG PID: kill it as it waits, its status in $st
	until_ is_tool $2	# env has put the default back and run it
	sleep 0.2	# (SIGKILLed after 20 s if SIG did not end it)
	kill -$1 $2
	until_ gone $2 || kill -9 $2
	wait $2
	st=$?
}
"$EV" clear $P-sg; "$Q" create -c 1 $P-sq
"$SEM" $P-ss sh -c 'echo > held; i=0; while [ ! -e free ] && [ $i -lt 3000 ]; do sleep 0.05; i=$((i + 1)); done' &
bg=$!
until_ [ -e held ]
for sig in INT TERM; do
	case $sig in INT) n=2 ;; TERM) n=15 ;; esac
	bgrun "$EV" wait $P-sg
	dead_by $sig $!
	ok "event wait, SIG$sig: 128+$n" "$((128 + n))" "$st"
	bgrun "$Q" get $P-sq
	dead_by $sig $!
	ok "queue get, SIG$sig: 128+$n" "$((128 + n))" "$st"
	timeout 10 "$Q" put $P-sq full
	bgrun "$Q" put $P-sq waits
	dead_by $sig $!
	ok "queue put to a full one, SIG$sig: 128+$n" "$((128 + n))" "$st"
	ok "... the queue works" "full${nl}rc=0" "$(run "$Q" get -t 20 $P-sq)"
	bgrun "$SEM" $P-ss touch ran.$sig
	dead_by $sig $!
	ok "sem waiting for a permit, SIG$sig: 128+$n" "$((128 + n))" "$st"
	ok "... its command did not run" "no" "$([ -e ran.$sig ] && echo yes || echo no)"
done
(sleep 0.3; "$EV" set $P-sg) &
ok "event: set after its waiters were killed wakes the next" "rc=0" "$(run "$EV" wait -t 20 $P-sg)"
wait $!
touch free; wait $bg; bg=
ok "sem: after its waiters were killed, the permit is free" "rc=0 $P-ss: 1 permits, 1 free" \
	"$(run "$SEM" -w 20 $P-ss true) $(timeout 10 "$SEM" --status $P-ss | head -n 1)"

# ---- many at once ----
# 16 conc-sem of 2 permits: a command marks itself in active/ after it has
# its permit and unmarks before it gives it back, so more than 2 marks at
# any look is a permit handed out twice (no timing in that).
mkdir active
for i in $(seq 16); do
	timeout 120 "$SEM" -n 2 $P-many sh -c 'touch active/$$; n=$(ls active | wc -l)
		[ "$n" -gt 2 ] && echo "$n" >> over; sleep 0.02; rm active/$$' &
	pids="$pids $!"
done
for p in $pids; do wait $p || echo "$p: $?" >> failed; done
ok "16 callers of 2 permits: never more than 2 at once" "" "$(cat over 2>/dev/null)"
ok "... each ran, 0" "" "$(cat failed 2>/dev/null)"
ok "... all permits back" "$P-many: 2 permits, 2 free" "$(timeout 10 "$SEM" --status $P-many | head -n 1)"
# 8 putters and 8 getters through a queue of 2: each message once.
"$Q" create -c 2 $P-mq
pids=
for i in $(seq 8); do
	(seq -f "$i-%g" 25 | timeout 120 "$Q" put $P-mq) &
	(timeout 120 "$Q" get -n 25 -t 60 $P-mq > got.$i; n=$(wc -l < got.$i)
	 while [ "$n" -lt 25 ] && timeout 120 "$Q" get -t 60 $P-mq >> got.$i; do n=$((n + 1)); done) &
	pids="$pids $!"
done
for p in $pids; do wait $p; done
wait
ok "8 putters, 8 getters, a queue of 2: 200 messages, each once" "200 200" \
	"$(cat got.* | sort -u | wc -l | tr -d ' ') $(cat got.* | wc -l | tr -d ' ')"
# 8 waiters on an event, set and cleared by 4 others.
"$EV" clear $P-me
pids=
for i in $(seq 8); do timeout 120 "$EV" wait -t 60 $P-me & pids="$pids $!"; done
for i in 1 2 3 4; do (for j in 1 2 3 4 5; do "$EV" clear $P-me; "$EV" set $P-me; done) & done
wait_all=0
for p in $pids; do wait $p || wait_all=$?; done
wait
ok "8 waiters, 4 setters and clearers: every waiter woken" "0" "$wait_all"

# ---- a get SIGKILLed while it writes a message out ----
# 200000 bytes into a pipe read of one byte only: the get blocks half-way
# through its write, its message taken but not committed. That byte says
# the get has taken it: the second get below must not start before (the
# first one running late, it took the big message and failed the test).
"$Q" create -s 300000 $P-bq
awk 'BEGIN { for (i = 0; i < 20000; i++) printf "0123456789"; print "" }' > big
timeout 10 "$Q" put $P-bq < big
timeout 10 "$Q" put $P-bq small
sh -c 'echo $$ > gpid; exec "$0" get $1' "$Q" $P-bq | { head -c 1 > first; exec sleep 60; } &
sl=$!
until_ [ -s first ]
# The get cannot finish: a second get waits its timeout out, or takes the
# next message (the library's choice); either way it ends in time.
r=$(run "$Q" get -t 0.3 $P-bq)
case $r in "rc=1"|"small${nl}rc=0") ok "a get beside a blocked get ends in time" 1 1 ;;
*) ok "a get beside a blocked get ends in time" "rc=1 or small" "$r" ;; esac
kill -9 "$(cat gpid)"
kill $sl; { wait $sl; } 2>/dev/null
ok "the SIGKILLed get's message stays, whole" "same" \
	"$(timeout 60 "$Q" get -t 20 $P-bq | cmp -s - big && echo same)"

# ---- a segment a hostile peer wrote: an answer or an error, in time ----
# Each word of the first lines of each kind's data (its geometry, counts,
# locks, the first slots and holders) set to 0xffffffff and 0x40000000,
# then the tool's commands: none may crash (status over 128, a sanitizer's
# report) or wait past its timeout (timeout -s KILL's 137).
poke() {	# poke FILE OFFSET BYTES (a printf escape string)
	printf "$3" | dd of="$1" bs=1 seek="$2" conv=notrunc 2>/dev/null
}
hostile() {	# hostile KIND OFFSET BYTES
	f=/dev/shm/$P-h$1
	rm -f $f
	case $1 in
	e) "$EV" set $P-he; cmds="wait -t 0.05|status|clear|set|wait -t 0.05|rm" t=$EV ;;
	q) "$Q" create -c 4 -s 16 $P-hq; "$Q" put $P-hq a bb
	   cmds="get -t 0.05|put -t 0.05 @ x|get -0 -n 3 -t 0.05|stat|close|get -t 0.05|rm" t=$Q ;;
	s) "$SEM" -n 2 $P-hs true; cmds="-w 0.05 @ true|--status|-w 0.05 @ true|--rm" t=$SEM ;;
	esac
	poke $f $2 "$3"
	echo "$cmds" | tr '|' '\n' > cmds
	while read -r c; do
		case $c in *@*) a=${c%%@*} b=${c#*@}; set -- $a $P-h$1 $b ;; *) set -- $c $P-h$1 ;; esac
		timeout -s KILL 30 "$t" "$@" >/dev/null 2>"$T/err" </dev/null
		r=$?
		if [ $r -gt 128 ] || grep -q "Sanitizer\|runtime error" "$T/err"; then
			echo "$(basename $t) $* after $3 at $2: $r $(head -n 3 "$T/err")"
		fi
	done < cmds
}
for k in e q s; do
	off=64
	while [ $off -lt 400 ]; do
		hostile $k $off '\377\377\377\377' >> hostile.out
		hostile $k $off '\0\0\0\100' >> hostile.out
		off=$((off + 4))
	done
	# Garbage over the whole data area, and a header cut short.
	hostile $k 64 "$(awk 'BEGIN { srand(7); for (i = 0; i < 2000; i++) printf "\\%o", int(rand() * 256) }')" >> hostile.out
	hostile $k 0 '\0\0\0\0' >> hostile.out
done
ok "hostile segments: no crash, no wait past the timeout" "" "$(head -n 5 hostile.out)"

# ---- a file cut short under a tool that uses it: said, 5 or 125, no SIGBUS ----
# Each is cut under it: the waits once they sleep with the file mapped (on
# a futex, where the kernel says), the holder while its command waits for
# the cut. A wait that timed out (1) had done so before the cut (a loaded
# machine can take longer than its timeout to see it asleep): that round
# proves nothing and is done again with a longer timeout.
waits_on() {	# waits_on PID FILE
	grep -q "/dev/shm/$2\$" /proc/$1/maps 2>/dev/null &&
	[ "$(awk '{ print $3 }' /proc/$1/stat 2>/dev/null)" = S ] &&
	case $(cat /proc/$1/wchan 2>/dev/null) in ""|0|*futex*) true ;; *) false ;; esac
}
for t in 2 10 60 300; do
	: > cut.err
	rm -f /dev/shm/$P-cut /dev/shm/$P-cutq
	"$EV" clear $P-cut; "$Q" create $P-cutq
	bgrun "$EV" wait -t $t $P-cut 2>>cut.err; pe=$!
	bgrun "$Q" get -t $t $P-cutq 2>>cut.err; pq=$!
	until_ waits_on $pe $P-cut; until_ waits_on $pq $P-cutq
	: > /dev/shm/$P-cut; : > /dev/shm/$P-cutq
	wait $pe; re=$?; wait $pq; rq=$?
	[ $re != 1 ] && [ $rq != 1 ] && break
done
bgrun "$SEM" $P-cuts sh -c 'i=0; while [ ! -e cut.go ] && [ $i -lt 12000 ]; do sleep 0.05; i=$((i + 1)); done' 2>>cut.err; ps_=$!
until_ [ "$(holders $P-cuts)" = 1 ]
: > /dev/shm/$P-cuts
touch cut.go
wait $ps_; rs=$?
ok "a file cut short: event wait 5, queue get 5, conc-sem 125" "5 5 125" "$re $rq $rs"
ok "... each said so" "3" "$(grep -c 'cut short' cut.err)"

# ---- conc-queue(1)'s EXAMPLES, as written there (the names made unique) ----
mkdir ex && cd ex && printf 'l1\nl2\n' > 'a
b.txt' && printf 'l1\n' > c.txt
ok "queue(1) example: file names with newlines, -0" "3 total" \
	"$(timeout 10 "$Q" create $P-files && find . -name '*.txt' -print0 | timeout 10 "$Q" put -0 $P-files &&
	   timeout 10 "$Q" get -0 -n 100 -t 0 $P-files | xargs -0 wc -l | tail -n 1 | sed 's/^ *//')"
ok "queue(1) example: a fifth of a second" "1" \
	"$(timeout 10 "$Q" create $P-jobs; timeout 10 "$Q" get -t 0.2 $P-jobs; echo $?)"
cd ..

echo "test_tools_edge: $pass passed, $fail failed"
[ "$fail" = 0 ]
