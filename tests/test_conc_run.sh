#!/bin/sh
# test_conc_run.sh — drives the real bin/conc-run. The expected outputs
# are GNU parallel's (20221122) on the same command lines, unless said.
# Every run is bounded by timeout(1); no test asserts a timing.
R=${CONC_RUN:-$(pwd)/bin/conc-run}
. "$(dirname "$0")/sh_ok.sh"
. "$(dirname "$0")/sh_sshd.sh"
T=$(mktemp -d /tmp/conc-run-test.XXXXXX) || exit 1
trap 'rm -rf "$T"' EXIT
cd "$T" || exit 1

# run ARGS...: stdout (and "rc=N" on its own last line)
run() { capture "$R" "$@"; }

nl='
'

# ---- inputs ----
ok "::: one source" "a${nl}b c${nl}rc=0" "$(run -k echo ::: a 'b c')"
ok "::: product, first source slowest" "a 1${nl}a 2${nl}b 1${nl}b 2${nl}rc=0" \
	"$(run -k echo ::: a b ::: 1 2)"
ok "{1} {2} and {} with two sources" "a 1 a 1${nl}a 2 a 2${nl}b 1 b 1${nl}b 2 b 2${nl}rc=0" \
	"$(run -k echo {1} {2} {} ::: a b ::: 1 2)"
ok "stdin lines" "1${nl}2${nl}3${nl}rc=0" "$(seq 3 | run -k echo)"
ok "stdin without a last newline" "a${nl}b${nl}rc=0" "$(printf 'a\nb' | run -k echo)"
ok "an empty line is an empty argument" "[a]${nl}[]${nl}[b]${nl}rc=0" \
	"$(printf 'a\n\nb\n' | run -k echo '[{}]')"
ok "empty stdin: no job" "rc=0" "$(run echo </dev/null)"
ok "-0" "a${nl}b c${nl}rc=0" "$(printf 'a\0b c\0' | run -0 -k echo)"
ok "-d :" "a${nl}b${nl}rc=0" "$(printf 'a:b' | run -d : -k echo)"
printf 'x\ny\n' > f1
printf '1\n2\n' > f2
ok ":::: files" "x 1${nl}x 2${nl}y 1${nl}y 2${nl}rc=0" "$(run -k echo :::: f1 f2)"
ok ":::: and ::: mixed" "x a${nl}y a${nl}rc=0" "$(run -k echo :::: f1 ::: a)"
ok ":::+ goes along, the shortest wins" "a 1${nl}b 2${nl}rc=0" "$(run -k echo ::: a b c :::+ 1 2)"
ok ":::+ after a product" "x a 1${nl}x b 2${nl}y a 1${nl}y b 2${nl}rc=0" \
	"$(run -k echo ::: x y ::: a b :::+ 1 2)"
ok "::::+ a file along" "a 1${nl}b 2${nl}rc=0" "$(run -k echo ::: a b ::::+ f2)"
ok ":::: missing file: 255" "rc=255" "$(run echo :::: nosuchfile)"
grep -q "^conc-run: cannot open nosuchfile: " err; ok ":::: missing file: message" 0 $?
ok "-n 2" "b-a${nl}-c${nl}rc=0" "$(run -k -n 2 echo {2}-{1} ::: a b c)"
ok "-n 2 appended" "a b${nl}c d${nl}rc=0" "$(run -k -n2 echo ::: a b c d)"
ok "-N 2: {} and the word around it once per argument" "xay xby 1${nl}xcy 2${nl}rc=0" \
	"$(run -k -N2 echo x{}y {#} ::: a b c)"
ok "-N 2: {1} {2} once" "a-b${nl}c-${nl}rc=0" "$(run -k -N2 echo {1}-{2} ::: a b c)"
ok "-N 2 appended" "a b${nl}c${nl}rc=0" "$(run -k -N2 echo ::: a b c)"
ok "-X: the last line spread over -j" "xay xby xcy${nl}xdy xey${nl}rc=0" \
	"$(run -k -j2 -X echo x{}y ::: a b c d e)"
ok "-m: {} all of the job's" "a b c${nl}d e${nl}rc=0" "$(run -k -j2 -m echo {} ::: a b c d e)"
ok "-N 0" "echo hi ${nl}echo hi ${nl}rc=0" "$(run -k -N0 --dry-run echo hi ::: a b)"
ok "--colsep" "y x${nl}q p${nl}rc=0" "$(run -k --colsep , echo {2} {1} ::: x,y p,q)"
ok "--colsep appended" "x y${nl}rc=0" "$(run -k --colsep , echo ::: x,y)"
ok "--colsep tab regex" "b${nl}rc=0" "$(printf 'a\tb\n' | run --colsep '\t+' echo {2})"

# ---- replacement strings ----
ok "{//}" "a/b${nl}/${nl}.${nl}a${nl}.${nl}rc=0" "$(run -k echo {//} ::: a/b/c /x x a/b/ '')"
ok "{/} {.} {/.}" "d a/b.c/d d${nl}a.tar.gz a.tar a.tar${nl}x.y /x x${nl}.bashrc  ${nl}rc=0" \
	"$(run -k echo {/} {.} {/.} ::: a/b.c/d a.tar.gz /x.y .bashrc)"
ok "{#} job number" "1 a${nl}2 b${nl}rc=0" "$(run -k echo {#} {} ::: a b)"
ok "PARALLEL_SEQ, PARALLEL_JOBSLOT, PARALLEL_PID" "1 1 yes${nl}2 1 yes${nl}rc=0" \
	"$(PARALLEL_SEQ=x run -j1 -k ': {}; echo $PARALLEL_SEQ $PARALLEL_JOBSLOT $([ "$PARALLEL_PID" = $PPID ] && echo yes)' ::: a b)"
ok "{%} slot within -j" "1${nl}rc=0" "$(run -j1 -k echo {%} ::: a b | sort -u)"
ok "{#} alone still counts as a replacement" "1${nl}2${nl}rc=0" "$(run -k echo {#} ::: a b)"
ok "{2.} {1/}" "a/b d${nl}rc=0" "$(run echo {2.} {1/} ::: /c/d ::: a/b.x)"
ok "{ not a replacement string stays" "{x} a${nl}rc=0" "$(run echo {x} ::: a)"

# ---- quoting: one value, one argument ----
ok "spaces, quotes and \$ stay one argument" \
	"[a b]${nl}[c\$d]${nl}[e'f]${nl}[g\"h]${nl}[*]${nl}rc=0" \
	"$(run -k "printf '[%s]\\n'" ::: 'a b' 'c$d' "e'f" 'g"h' '*')"
ok "--dry-run quotes as GNU parallel" \
	"echo 'a b'${nl}echo 'c\$d'${nl}echo 'e'\"'\"'f'${nl}echo ''${nl}echo 'm~=^%+,'${nl}echo a-b_c.d/e+f${nl}rc=0" \
	"$(run -k --dry-run echo ::: 'a b' 'c$d' "e'f" '' 'm~=^%+,' a-b_c.d/e+f)"
ok "the command is shell: pipes work" "3${nl}rc=0" "$(run 'echo {} | wc -c' ::: ab)"
ok "-q: no shell, words as they are" "[a|b]${nl}[x y]${nl}rc=0" \
	"$(run -q printf '[%s]\n' 'a|b' ::: 'x y')"
ok "no command: the inputs are the commands" "hi${nl}rc=0" "$(run ::: 'echo hi')"
ok "-q missing program: one failed job" "rc=1" "$(run -q /nonexistent/prog ::: a)"

# ---- jobs, order, grouping ----
ok "-k keeps input order" "3${nl}2${nl}1${nl}0${nl}rc=0" \
	"$(run -k -j4 'sleep 0.{}; echo {}' ::: 3 2 1 0)"
ok "-j0 runs them all" "4" \
	"$(run -j0 'sleep 0.3; echo x' ::: 1 2 3 4 | wc -l | tr -d ' ')"
ok "-j 50%" "rc=0" "$(run -j 50% true ::: 1 2)"
ok "-j bad: 255" "rc=255" "$(run -j x true ::: 1)"
# Grouped: a job's lines stay together even when it sleeps between them.
out=$(run -j2 'echo {}1; sleep 0.2; echo {}2' ::: a b)
ok "grouped output" "yes" "$(printf '%s\n' "$out" | awk 'NR==1{f=substr($0,1,1)} NR==2{print (substr($0,1,1)==f ? "yes" : "no")}')"
ok "stdout then stderr of a job" "o1${nl}e1${nl}rc=0" "$(timeout 30 "$R" 'echo o{}; echo e{} >&2' ::: 1 2>&1; echo "rc=$?")"
# What a job's leftover process writes after the job ended is lost, never
# printed as the next job's output (GNU parallel: its temporary file).
# The leftover writes once the next job has begun (-j1: the first was
# reaped then), and the next ends only after that: however late conc-run
# runs, the writes fall between the two.
ok "a leftover writer does not reach the next job" "nowa${nl}nowb${nl}rc=0" \
	"$(timeout 60 "$R" -j1 -k 'i=0; if [ {} = a ]; then { while [ ! -e b.began ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i + 1)); done; echo late; echo late >&2; : > late.done; } & else : > b.began; while [ ! -e late.done ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i + 1)); done; fi; echo now{}' ::: a b 2>&1; echo "rc=$?")"
# Its stdout is a file, as GNU parallel's: > /dev/stdout truncates it.
ok "> /dev/stdout as GNU parallel" "b1${nl}rc=0" "$(run 'echo a; echo b{} > /dev/stdout' ::: 1)"
ok "--tag" "a	a${nl}a	ea${nl}b c	b c${nl}b c	eb c${nl}rc=0" \
	"$(timeout 30 "$R" -k --tag 'echo {}; echo e{} >&2' ::: a 'b c' 2>&1; echo "rc=$?")"
# Each job waits to see the other's line in conc-run's output (a file):
# the order holds however late either job starts.
timeout 30 "$R" -j2 --line-buffer 'i=0; if [ {} = a ]; then echo a1; while ! grep -q b1 lb.out && [ $i -lt 400 ]; do sleep 0.05; i=$((i + 1)); done; echo a2; else while ! grep -q a1 lb.out && [ $i -lt 400 ]; do sleep 0.05; i=$((i + 1)); done; echo b1; fi' ::: a b > lb.out 2>&1
rc=$?
ok "--line-buffer prints lines as they come" "a1${nl}b1${nl}a2${nl}rc=0" "$(cat lb.out; echo "rc=$rc")"
ok "-u passes output through" "x${nl}rc=0" "$(run -u echo ::: x)"
ok "a big output stays whole" "200000" "$(timeout 30 "$R" -j2 seq ::: 100000 100000 | wc -l | tr -d ' ')"
ok "-k with big outputs in order" "1${nl}100000${nl}1${nl}100000" \
	"$(timeout 30 "$R" -k -j2 'sleep 0.{}; seq 100000' ::: 3 1 | sed -n '1p;100000p;100001p;200000p')"

# -k behind a slow job: 60 MB of output waits, the heap holds at most its
# 16 MiB budget of it (peak RSS with 20 kB per job against 1 byte per
# job). Job 1 ends only once job 3000 has printed (a file says so), so
# the whole queue waits whatever the load; its wait is bounded (240 s,
# then exit 3: "rc 3", the check not made). Under ASan, its quarantine
# would keep the freed buffers: off here.
if [ -x /usr/bin/time ]; then
	peak() {
		rm -f k.last
		seq 3000 | ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0" \
			/usr/bin/time -f '%M %x' timeout 300 "$R" -k -j2 \
			"i=0; if [ {} = 1 ]; then while [ ! -e k.last ]; do [ \$i -lt 4800 ] || exit 3; sleep 0.05; i=\$((i + 1)); done; fi; head -c $1 /dev/zero; if [ {} = 3000 ]; then : > k.last; fi" \
			2>&1 >/dev/null | tail -1
	}
	small=$(peak 1) large=$(peak 20000)
	ok "-k: waiting output spills off the heap: rc" "0 0" "${small#* } ${large#* }"
	ok "-k: waiting output spills off the heap" "yes" \
		"$([ $((${large% *} - ${small% *})) -lt 24000 ] && echo yes || echo "no: ${small% *} kB, ${large% *} kB")"
else
	echo "skip: -k memory bound (no /usr/bin/time)"
fi

ok "--tagstring: replacement strings, a tab" "<a.x-a> 1${nl}<b-b> 2${nl}rc=0" \
	"$(run -k --tagstring '<{}-{.}>' 'echo {#}' ::: a.x b | tr '\t' ' ')"
ok "--tagstring with -k --line-buffer" "[a] x${nl}[a] y${nl}[b] x${nl}[b] y${nl}rc=0" \
	"$(run -k --line-buffer --tagstring '[{}]' ': {}; echo x; echo y' ::: a b | tr '\t' ' ')"
ok "--tagstring {= perl =}: not supported" "rc=255" "$(run --tagstring '{= 1 =}' echo ::: a)"

# ---- exit status ----
ok "exit: failed count" "rc=3" "$(run 'exit {}' ::: 0 1 2 3)"
ok "exit: 101 for more than 100" "rc=101" "$(seq 102 | run -j4 false)"
ok "exit: a killed job fails" "rc=1" "$(run 'kill -9 $$' ::: 1)"
ok "exit: unknown option 255" "rc=255" "$(run --no-such-option true)"
grep -q "^conc-run: unknown option: --no-such-option" err; ok "unknown option message" 0 $?
ok "option without its value: 255" "rc=255" "$(run -j)"
grep -q "^conc-run: option needs a value: -j" err; ok "option without its value: message" 0 $?
ok "joblog that cannot be opened: 255" "rc=255" "$(run --joblog /nonexistent/dir/log true ::: 1)"
grep -q "^conc-run: cannot open joblog /nonexistent/dir/log: " err; ok "joblog: message" 0 $?
ok "closed stdout: 255" "rc=255" "$(timeout 30 "$R" echo ::: a >&- 2>"$T/err"; echo "rc=$?")"
grep -q "^conc-run: cannot write the output: " err; ok "closed stdout: message" 0 $?
# A reader gone: conc-run stops its running jobs and dies of SIGPIPE, as
# GNU parallel does (141; the jobs would run on, yes(1) for ever: timeout(1)
# says 124). Each job writes its pid first; conc-run reaps them before it
# dies, so none is alive after.
{ timeout 30 "$R" -j2 --line-buffer 'echo $$ > rg.{}; exec yes {}' ::: a b 2>/dev/null
  echo "rc=$?" > rg.rc; } | head -1 >/dev/null
ok "a reader gone: conc-run dies of SIGPIPE" "rc=141" "$(cat rg.rc)"
ok "a reader gone: the running jobs are stopped" "" \
	"$(for j in a b; do [ -s rg.$j ] && kill -0 "$(cat rg.$j)" 2>/dev/null && echo "job $j runs on"; done)"
ok "--help" "0" "$("$R" --help >/dev/null; echo $?)"
ok "--version" "0" "$("$R" --version | grep -q '^conc-run '; echo $?)"

# ---- --pipe ----
seq 100000 > big
ok "--pipe: every line once" "100000" \
	"$(timeout 30 "$R" --pipe --block 100k wc -l < big | awk '{ s += $1 } END { print s }')"
ok "--pipe -k: chunks in order, none cut" "same" \
	"$(timeout 30 "$R" -k --pipe --block 10k cat < big | cmp -s - big && echo same)"
ok "--pipe from a pipe" "same" \
	"$(cat big | timeout 30 "$R" -k --pipe --block 64k cat | cmp -s - big && echo same)"
ok "--pipe --recend" "a;${nl}b;${nl}c;${nl}rc=0" \
	"$(printf 'a;b;c;' | run -k --pipe --block 1 --recend ';' 'cat; echo')"
ok "--pipe: a record longer than a block is not cut" "1" \
	"$( (head -c 5000 /dev/zero | tr '\0' x; echo) | run --pipe --block 100 wc -l | head -1)"
ok "--pipe {#}" "1${nl}2${nl}rc=0" "$(printf 'a\nb\n' | run -k --pipe --block 1 'echo {#}')"
ok "--pipe --retries: a retry gets its chunk again" "3${nl}rc=0" \
	"$(rm -f pt; seq 3 | run --pipe --retries 2 'n=$(wc -l); if [ -e pt ]; then echo $n; else touch pt; exit 1; fi')"
ok "--pipe empty stdin: no job" "rc=0" "$(run --pipe cat </dev/null)"

# ---- --joblog, --resume ----
run --joblog log 'exit {}' ::: 0 3 >/dev/null
ok "joblog header" "Seq	Host	Starttime	JobRuntime	Send	Receive	Exitval	Signal	Command" "$(head -1 log)"
ok "joblog lines" "1 : 0 0 0 exit 0${nl}2 : 0 0 3 exit 3" \
	"$(tail -n +2 log | sort -n | awk -F'\t' '{ print $1, $2, $5, $6, $7, $9 }')"
ok "joblog columns" "9" "$(awk -F'\t' 'NR == 2 { print NF }' log)"
ok "joblog receive counts output" "2 0 0" \
	"$(run --joblog log2 echo ::: x >/dev/null; awk -F'\t' 'NR == 2 { print $6, $7, $8 }' log2)"
run --joblog rl 'exit {}' ::: 0 1 0 2 >/dev/null
ok "--resume-failed reruns the failed" "run 1${nl}run 2${nl}rc=0" \
	"$(run -k --joblog rl --resume-failed 'echo run {}' ::: 0 1 0 2)"
ok "--resume runs the new" "run 5${nl}rc=0" \
	"$(run -k --joblog rl --resume 'echo run {}' ::: 0 1 0 2 5)"
ok "--resume without --joblog: 255" "rc=255" "$(run --resume true ::: 1)"

# ---- --timeout, signals in the log ----
# The job touches "armed" once TERM is ignored. A TERM that came before
# (the shell had not got that far, on a loaded machine) proves nothing:
# again with a longer timeout, up to 30 s.
for t in 0.3 2 10 30; do
	rm -f armed tl
	got=$(run --joblog tl --timeout $t 'trap "" TERM; : > armed; exec sleep 60' ::: 1)
	[ -e armed ] && break
done
ok "--timeout kills, TERM ignored: KILL later" "rc=1" "$got"
ok "--timeout: Exitval -1, Signal 9" "-1 9" "$(awk -F'\t' 'NR == 2 { print $7, $8 }' tl)"
run --joblog tl2 --timeout 0.3 'sleep 20' ::: 1 >/dev/null
ok "--timeout: Signal 15" "-1 15" "$(awk -F'\t' 'NR == 2 { print $7, $8 }' tl2)"
run --joblog kl 'kill -9 $$' ::: 1 >/dev/null
ok "a SIGKILLed job in the log" "0 9" "$(awk -F'\t' 'NR == 2 { print $7, $8 }' kl)"

# ---- --retries, --halt ----
ok "--retries: last attempt's output once" "try${nl}rc=1" "$(run --retries 3 'echo try; false' ::: 1)"
run --joblog rt --retries 3 'echo x >> tries; false' ::: 1 >/dev/null
ok "--retries: three attempts" "3" "$(wc -l < tries | tr -d ' ')"
ok "--retries: the last attempt logged" "1" "$(tail -n +2 rt | wc -l | tr -d ' ')"
echo 0 > cnt
ok "--retries 0: without end, as GNU parallel" "rc=0 7" \
	"$(rm -f r0; run --retries 0 ': {}; n=$(cat r0 2>/dev/null || echo 0); n=$((n + 1)); echo $n > r0; [ $n -ge 7 ]' ::: 1) $(cat r0)"
ok "--retries: a later success counts" "rc=0" \
	"$(run --retries 3 ': {}; n=$(cat cnt); echo $((n + 1)) > cnt; [ $n -ge 1 ]' ::: 1)"
ok "--halt now,fail=1: the job's status" "0${nl}5${nl}rc=5" \
	"$(run -j1 --halt now,fail=1 'echo {}; exit {}' ::: 0 5 3 0)"
ok "--halt soon,success=1: 0" "3${nl}0${nl}rc=0" \
	"$(run -j1 --halt soon,success=1 'echo {}; exit {}' ::: 3 0 4)"
ok "--halt now kills the running ones" "rc=1" \
	"$(run -j2 --halt now,fail=1 'if [ {} = 1 ]; then sleep 20; else exit 1; fi' ::: 1 2)"
ok "--halt fail=2: failed count" "rc=2" "$(run -j1 --halt fail=2 'exit {}' ::: 1 1 1 1)"
ok "--halt 2 is now,fail=1 (killed: 128+sig)" "rc=137" "$(run -j1 --halt 2 'kill -9 $$' ::: 1 2)"
ok "--halt bad: 255" "rc=255" "$(run --halt sometime true ::: 1)"

# ---- --dry-run, --delay, -q ----
ok "--dry-run -q quotes the words" "printf '%s\\n' 'a b'${nl}rc=0" \
	"$(run --dry-run -q printf '%s\n' ::: 'a b')"
ok "--dry-run with stdin" "echo 1${nl}echo 2${nl}rc=0" "$(seq 2 | run --dry-run echo)"
ok "--delay" "1${nl}2${nl}rc=0" "$(run -k --delay 0.1 echo ::: 1 2)"
ok "--bar off a terminal: nothing on stderr" "" "$(timeout 30 "$R" --bar --progress --eta true ::: 1 2 2>&1)"
if command -v script >/dev/null 2>&1; then
	ok "--progress on a terminal" "yes" \
		"$(timeout 30 script -qec "'$R' --progress true ::: 1 2" /dev/null | grep -q 'done 2/2, running 0, failed 0' && echo yes)"
	ok "--bar on a terminal" "yes" \
		"$(timeout 30 script -qec "'$R' --bar true ::: 1 2" /dev/null | grep -q '100% 2/2' && echo yes)"
else
	echo "skip: --bar on a terminal (no script(1))"
fi
ok "stdin: jobs start before it ends" "a${nl}b-early${nl}rc=0" \
	"$( (echo a; i=0; while [ ! -f a.done ] && [ $i -lt 500 ]; do sleep 0.1; i=$((i + 1)); done
	     [ -f a.done ] && echo b-early || echo b-late) | run -k 'touch {}.done; echo {}')"

# ---- signals to conc-run ----
"$R" -j2 --joblog sl 'touch go.{}; echo started{}; sleep 20; echo end{}' ::: 1 2 3 > sig.out 2>&1 &
pid=$!
i=0; while ! [ -e go.1 ] || ! [ -e go.2 ]; do i=$((i + 1)); [ $i -gt 400 ] && break; sleep 0.05; done
kill -TERM $pid
i=0; while kill -0 $pid 2>/dev/null; do i=$((i + 1)); [ $i -gt 600 ] && kill -9 $pid; sleep 0.05; done
wait $pid; rc=$?
ok "SIGTERM: 255" "255" "$rc"
ok "SIGTERM: no job started after" "2" "$(tail -n +2 sl | wc -l | tr -d ' ')"
ok "SIGTERM: jobs recorded killed" "-1 15${nl}-1 15" "$(tail -n +2 sl | awk -F'\t' '{ print $7, $8 }')"
ok "SIGTERM: nothing half printed" "" "$(cat sig.out)"
"$R" -j1 --joblog sl2 'trap "" INT TERM; touch go2; sleep 20' ::: 1 > /dev/null 2>&1 &
pid=$!
i=0; while ! [ -e go2 ]; do i=$((i + 1)); [ $i -gt 400 ] && break; sleep 0.05; done
# Two SIGINTs sent close together may arrive as one (a pending signal is not
# queued twice): send them until conc-run ends, and a second one is seen.
i=0; while kill -0 $pid 2>/dev/null; do i=$((i + 1)); [ $i -gt 600 ] && kill -9 $pid; kill -INT $pid 2>/dev/null; sleep 0.05; done
wait $pid
ok "second SIGINT: KILL at once" "-1 9" "$(awk -F'\t' 'NR == 2 { print $7, $8 }' sl2)"

# ---- other hosts: an sshd of our own on 127.0.0.1 ----
if sshd_start; then
	trap '[ -f "$T/sshd.pid" ] && kill "$(cat "$T/sshd.pid")"; rm -rf "$T"' EXIT
	ok "-S: the job runs there, arguments whole" "[a b]${nl}[c'd]${nl}rc=0" \
		"$(run -k --ssh "$SSH" -S 127.0.0.1 "printf '[%s]\\n'" ::: 'a b' "c'd")"
	ok "-S: a login with its own ssh command" "x${nl}rc=0" "$(run -S "$SSH 127.0.0.1" echo ::: x)"
	ok "-S: its exit status" "rc=2" "$(run --ssh "$SSH" -S 127.0.0.1 'exit {}' ::: 0 3 4)"
	run -k -S "1/$SSH 127.0.0.1,1/:" --joblog sshlog 'sleep 0.5; echo {}' ::: a b >/dev/null
	ok "-S N/host,: spreads jobs, the log names the host" "yes" \
		"$(tail -n +2 sshlog | cut -f2 | sort -u | awk '$0 == ":" { l = 1 } END { print NR == 2 && l ? "yes" : "no" }')"
	printf '%s\n' "$SSH 127.0.0.1" > slf
	ok "--sshloginfile" "y${nl}rc=0" "$(run --slf slf echo ::: y)"
	rel=conc-run-ssh-$$
	mkdir -p "$rel" && echo content > "$rel/in.txt"
	ok "--transferfile --return --cleanup" "rc=0" \
		"$(run --ssh "$SSH" -S 127.0.0.1 --trc {.}.out 'wc -c < {} > {.}.out' ::: "$rel/in.txt"; )"
	ok "--return brought the file back" "8" "$(tr -d ' ' < "$rel/in.out")"
	ok "--cleanup removed the files there" "gone" \
		"$(timeout 10 $SSH 127.0.0.1 "test -e $rel && echo left || echo gone" </dev/null)"
	ok "--pipe through ssh" "100000" \
		"$(timeout 60 "$R" --ssh "$SSH" -S 127.0.0.1 --pipe --block 200k wc -l < big | awk '{ s += $1 } END { print s }')"
fi

echo "test_conc_run: $pass passed, $fail failed"
[ "$fail" = 0 ]
