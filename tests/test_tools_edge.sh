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

# ---- --mode: what a tool accepts, it (and the next call) can use ----
for m in 600 640 644 604 660 666 602 620; do
	r1=$(run "$SEM" --mode $m $P-ms$m true)
	[ "$r1" = rc=0 ] && ok "sem --mode $m: the next call uses it" "rc=0 rc=0 rc=0" \
		"$(run "$SEM" $P-ms$m true) $(rc "$SEM" --status $P-ms$m) $(run "$SEM" --rm $P-ms$m)"
	r2=$(run "$Q" create --mode $m $P-mq$m)
	[ "$r2" = rc=0 ] && ok "queue --mode $m: the next call uses it" "rc=0 x${nl}rc=0 rc=0" \
		"$(run "$Q" put $P-mq$m x) $(run "$Q" get -t 0 $P-mq$m) $(run "$Q" rm $P-mq$m)"
	r3=$(run "$EV" set --mode $m $P-me$m)
	[ "$r3" = rc=0 ] && ok "event --mode $m: the next call uses it" "rc=0 rc=0 rc=0" \
		"$(run "$EV" wait -t 0 $P-me$m) $(run "$EV" set $P-me$m) $(run "$EV" rm $P-me$m)"
	case $m in
	6[04][04]) ok "--mode $m accepted by each tool" "rc=0 rc=0 rc=0" "$r1 $r2 $r3" ;;
	*) ok "--mode $m (others may write) refused, nothing made" "rc=125 rc=2 rc=2 no" \
		"$r1 $r2 $r3 $(ls /dev/shm | grep -q "^$P-m.$m\$" && echo yes || echo no)" ;;
	esac
done

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
ok "sem: an empty command: 127" "rc=127" "$(run "$SEM" $P-os '')"
ok "sem: a directory as the command: 126" "rc=126" "$(run "$SEM" $P-os /)"

echo "test_tools_edge: $pass passed, $fail failed"
[ "$fail" = 0 ]
