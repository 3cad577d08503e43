#!/bin/sh
# test_conc_run_probe.sh — bin/conc-run read as a user reads issue 11 and
# its man page, sentence by sentence. Where the issue says "as GNU
# parallel", conc-run's output and exit status are compared with those of
# parallel(1) itself on the same command line when it is installed (else
# those checks are skipped, saying so); the other checks have their
# expected values written out. Every run is bounded by timeout(1); no
# test asserts a timing.
#   CONC_RUN=path (default: ./bin/conc-run)
TMPNAME=conc-run-probe
. "$(dirname "$0")/sh_conc_run.sh"

# ---- inputs ----
same "three ::: sources: the product, the first slowest" -k echo ::: a b ::: 1 2 ::: x y
ok "three ::: sources" "a 1 x${nl}a 1 y${nl}a 2 x${nl}a 2 y${nl}b 1 x${nl}b 1 y${nl}b 2 x${nl}b 2 y${nl}rc=0" \
	"$(run -k echo ::: a b ::: 1 2 ::: x y)"
printf 'x\ny\n' > f1
printf '1\n2\n' > f2
same ":::: two files" -k echo :::: f1 f2
IN=f1 same ":::: - is stdin" -k echo :::: f2 -
IN=f1 same "::: given: stdin is not read" -k echo ::: a
same "-a FILE as :::: FILE" -k -a f2 echo
ok "-a FILE" "1${nl}2${nl}rc=0" "$(run -k -a f2 echo)"
ok "two -a: both sources, the product" "1 x${nl}1 y${nl}2 x${nl}2 y${nl}rc=0" \
	"$(run -k -a f2 -a f1 echo)"
same "two -a" -k -a f2 -a f1 echo
same "-a and ::: together" -k -a f2 echo ::: a b
# A NUL byte inside an input: the two characters \0 and a warning for
# each job that first has one, as GNU parallel (it cut the argument).
printf 'a\0b\0c\nd\0e\nf\n' > nul1
printf 'x\0y\nz\n' > nulf
printf 'a\0bc\n' > nul2
ok "a NUL in a line of stdin becomes \\0" "[a\\0b\\0c]${nl}[d\\0e]${nl}[f]${nl}rc=0" \
	"$(run -k "printf '[%s]\n'" < nul1)"
ok "... said for each job that has one" "2" \
	"$(grep -c '^conc-run: Warning: A NUL character in the input was replaced with \\0\.$' "$T/err")"
ok "... and what to do" "2" "$(grep -c 'Did you mean to use the --null option?' "$T/err")"
IN=nul1 same "a NUL in a line of stdin" -k printf '[%s]\n'
IN=nul1 same "a NUL in a line of stdin, -q" -k -q printf '[%s]\n'
IN=nul1 same "a NUL in a line of stdin, -n 2" -k -n 2 printf '[%s]\n'
ok "a NUL in a :::: file, in every combination" "[x\\0y 1]${nl}[x\\0y 2]${nl}[z 1]${nl}[z 2]${nl}rc=0" \
	"$(run -k "printf '[%s %s]\n'" :::: nulf ::: 1 2)"
ok "... said once, for its first job" "1" "$(grep -c 'Warning: A NUL character' "$T/err")"
same "a NUL in a :::: file" -k "printf '[%s %s]\n'" :::: nulf ::: 1 2
same "a NUL in an -a file" -k -a nulf printf '[%s]\n'
IN=nul2 same "a NUL, then --colsep" --colsep b -k printf '[%s][%s]\n' {1} {2}
printf 'a\0b\0' > nul3
ok "-0: a NUL ends an input" "[a]${nl}[b]${nl}rc=0" "$(run -0 -k "printf '[%s]\n'" < nul3)"
ok "... and is no warning" "" "$(cat "$T/err")"
printf 'a b\nc\td\n\ne$f\n' > lines
IN=lines same "stdin lines, an empty one kept" -k echo '[{}]'
IN=lines same "stdin lines --dry-run" -k --dry-run echo
printf 'a\nb\0c d\0\0' > nul
IN=nul same "-0: a name with a newline is one input" -0 -k "printf '[%s]\\n'"
ok "-0: a name with a newline is one input" "[a${nl}b]${nl}[c d]${nl}[]${nl}rc=0" \
	"$(run -0 -k "printf '[%s]\\n'" < nul)"
IN=nul same "--null --dry-run" --null -k --dry-run echo
printf 'a:b::c:\n' > colon
IN=colon same "-d :" -k -d : --dry-run echo
IN=colon same "-d '\\n'" -k -d '\n' --dry-run echo
IN=colon same "-d b" -k -d b --dry-run echo
ok "-d two characters: 255" "rc=255" "$(run -d ab echo ::: x)"
seq 7 > seven
IN=seven same "-n 3 appended" -k -n 3 echo
IN=seven same "-n 3 {}" -k -n 3 echo '[{}]'
IN=seven same "-n 3 {3} {1}: a missing argument is nothing" -k -n 3 echo {3} {1}
IN=seven same "-n 3 --dry-run {3} {1}" -k -n 3 --dry-run echo {3} {1}
ok "-n 3: the last job's missing {3} is nothing" "echo 3 1${nl}echo 6 4${nl}echo  7${nl}rc=0" \
	"$(run -k -n 3 --dry-run echo {3} {1} < seven)"
same "-n 2 {#}" -k -n 2 echo {#} ::: a b c
same "-n 2 --tag" -k -n 2 --tag echo ::: a b c
IN=lines same "--colsep regex" -k --colsep '[ \t]' echo {2}{1}
ok "--colsep: a missing column is nothing" "echo  a${nl}echo c a${nl}rc=0" \
	"$(run -k --dry-run --colsep , echo {3} {1} ::: a,b a,b,c)"
same "--colsep: a missing column" -k --dry-run --colsep , echo {3} {1} ::: a,b a,b,c
same "--colsep and ::: product" -k --colsep , echo {2} {1} ::: a,b c,d ::: x
ok "--colsep bad regex: 255" "rc=255" "$(run --colsep '(' echo ::: a)"
ok ":::: a directory: 255" "rc=255" "$(run echo :::: /)"

# ---- replacement strings ----
for r in '{}' '{.}' '{/}' '{//}' '{/.}'; do
	same "$r on odd paths" -k --dry-run echo "x$r" ::: '' . .. / a/ /a/b.c a.b/c .x x. \
		a..b dir/.hidden //x 'a b/c d.e' a/b/ a.b.c/ '~/x.y' ./a ../b.c /a.b/ a/./b
done
ok "{.} {/} {//} {/.}" "a/b.c/d.e d.e.e a/b.c d.e${nl}rc=0" "$(run echo {.} {/} {//} {/.} ::: a/b.c/d.e.e)"
for r in '{1}' '{2.}' '{1/}' '{2//}' '{1/.}'; do
	same "$r of columns" -k --dry-run --colsep : echo "$r" ::: 'a.b/c.d:x/y.z' '/p/q.r:s'
	same "$r of sources" -k --dry-run echo "$r" ::: a.b/c.d /p/q.r ::: x/y.z s
done
same "{#} counts jobs" -k echo {#} ::: a b c ::: 1 2
ok "{#} with :::" "1${nl}2${nl}3${nl}4${nl}rc=0" "$(run -k echo {#} ::: a b ::: 1 2)"
ok "{#} on stdin" "1-a${nl}2-b${nl}rc=0" "$(printf 'a\nb\n' | run -k echo {#}-{})"
# {%}: from 1 to -j, never two running jobs on one slot.
ok "{%} within 1..-j, one job per slot" "rc=0" \
	"$(run -j3 'mkdir slot{%} || echo "slot {%} twice"; [ {%} -ge 1 ] && [ {%} -le 3 ] || echo "slot {%}"; sleep 0.0{}; rmdir slot{%}' ::: 1 2 3 4 5 6 7 8 9 1 2 3 4 5 6 7 8 9)"
ok "{%} alone: appended nothing" "1${nl}rc=0" "$(run -j1 echo {%} ::: a)"
same "no replacement string: appended, quoted" -k echo ::: 'a b' "c'd"
same "a replacement string inside a word" -k echo 'pre{}post' ::: 'a b'
same "{} twice" -k echo {} {} ::: a
same "{1} and {} with one source" -k echo {1}-{} ::: a b
same "{ and } that are not replacement strings" -k echo '{x}' '{1x}' '{' '}' '{}}' ::: a

# ---- quoting: names with spaces, quotes, $, newlines ----
mkdir q && cd q || exit 1
for n in 'a b' "c'd" 'e"f' 'g$h' 'i`j`' 'k;l' 'm|n' '*' '-o' 'p\q' ' r ' "s${nl}t" '~u' '$(v)' 'w&x' '#y'; do
	printf '%s\n' "$n" > "$n"
	printf '%s\0' "$n" >> ../names0
done
cd .. || exit 1
ok "names: each file read by its name" "$(cat q/* | LC_ALL=C sort)" \
	"$(cd q && timeout 60 "$R" -0 -k 'cat < {}' < ../names0 | LC_ALL=C sort)"
ok "names: appended, one argument each" "16" \
	"$(cd q && find . -type f -print0 | timeout 60 "$R" -0 -k "sh -c 'test -f \"\$1\" && echo ok' sh" | grep -c '^ok$')"
ok "names: {.} {/} stay one argument" "16" \
	"$(cd q && find . -type f -print0 | timeout 60 "$R" -0 -k "test -f {//}/{/} && test {.} = {.} && echo ok" | grep -c '^ok$')"
ok "names: -q without a shell" "16" \
	"$(cd q && timeout 60 "$R" -0 -k -q sh -c 'test -f "$1" && echo ok' sh {} < ../names0 | grep -c '^ok$')"
IN=names0 same "names: --dry-run" -0 -k --dry-run echo
same "--dry-run quotes what the shell would expand" -k --dry-run echo ::: 'a	b' 'a\b' 'é' '*' '~' '!' '#x' \
	'a=b' '@' 'a:b' '%' '^' '[x]' '{}' '&' ';' '`x`' '$(x)' '-n' ' ' "'" '"' 'a,b' 'x~' '=a' "''" "a''b" "'a'"
same "quoted values print back as they were" -k "printf '[%s]\\n'" ::: 'a	b' 'a\b' '*' '~' '!' '#x' \
	'`x`' '$(x)' '-n' ' ' "'" '"' "'\"'" '$HOME'
ok "-q: a word with spaces stays one" "[a b]${nl}[x y]${nl}rc=0" "$(run -q printf '[%s]\n' 'a b' ::: 'x y')"
ok "-q: no shell, so no expansion" "\$HOME * x${nl}rc=0" "$(run -q echo '$HOME' '*' {} ::: x)"
same "-q: the command and {} put in as they are" -k -q sh -c 'echo "$0"' {} ::: 'a b;c'
same "no command: the input lines are commands" -k ::: 'echo a' 'echo b; echo c'
# -q runs a program without a shell; a script without "#!" (ENOEXEC)
# goes through the shell, as GNU parallel's -q line does (126 before).
printf 'echo "$0 [$1]"; exit 5\n' > noshebang
chmod +x noshebang
ok "-q: a script without #! runs through the shell" "./noshebang [a b]${nl}rc=1" \
	"$(run -q ./noshebang ::: 'a b')"
same "-q: a script without #!" -q ./noshebang ::: 'a b'

# ---- jobs at once ----
# -j N runs N at once: each of N jobs waits (bounded) for all N to have
# started; with one fewer at once they would all give up.
conc() {
	rm -rf started && mkdir started
	run "$@" 'touch started/{}; i=0; while [ $(ls started | wc -l) -lt '"$N"' ] && [ $i -lt 800 ]; do sleep 0.05; i=$((i + 1)); done; ls started | wc -l' \
		::: $(seq "$N") | sort -u | tr -d ' '
}
N=3; ok "-j 3: three at once" "3${nl}rc=0" "$(conc -j 3)"
N=5; ok "-j 0: all at once" "5${nl}rc=0" "$(conc -j 0)"
N=4; ok "-P 4 as -j 4" "4${nl}rc=0" "$(conc -P 4)"
N=3; ok "--jobs=3" "3${nl}rc=0" "$(conc --jobs=3)"
cpus=$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN)
N=$(( (cpus + 1) / 2 )); ok "-j 50%: half the CPUs" "$N${nl}rc=0" "$(conc -j 50%)"
N=$((cpus * 2)); ok "-j 200%" "$N${nl}rc=0" "$(conc -j 200%)"
N=$((cpus + 1)); ok "-j +1" "$N${nl}rc=0" "$(conc -j +1)"
N=$cpus; ok "default -j: the CPUs" "$N${nl}rc=0" "$(conc)"
# Never more than -j: a slot directory per running job, at most 2.
ok "-j 2: never three at once" "rc=0" \
	"$(run -j2 'mkdir run.{}; n=$(ls -d run.* | wc -l); sleep 0.05; rmdir run.{}; [ $n -le 2 ] || echo "$n at once"' ::: $(seq 12))"
ok "-j bad values: 255" "rc=255 rc=255 rc=255" \
	"$(run -j x true ::: 1 | tail -1) $(run -j 1.5 true ::: 1 | tail -1) $(run -j '' true ::: 1 | tail -1)"

# ---- order and grouping ----
ok "-k: input order, whatever the end order" "$(seq 10)${nl}rc=0" \
	"$(run -k -j10 'sleep 0.$((10 - {})); echo {}' ::: $(seq 10))"
# Grouped: jobs write a line in three pieces with sleeps between; every
# line comes out whole and every job's lines together.
out=$(timeout 60 "$R" -j4 'for i in 1 2 3; do printf "{}"; sleep 0.0{}; printf "{}-$i\n"; done' ::: 1 2 3 4 5 6 7 8)
ok "grouped: a job's lines together" "8" "$(printf '%s\n' "$out" | cut -c1 | uniq | wc -l | tr -d ' ')"
ok "grouped: no line mixed" "24" "$(printf '%s\n' "$out" | grep -cE '^([1-8])\1-[123]$')"
out=$(timeout 60 "$R" -j4 --line-buffer 'for i in 1 2 3; do printf "{}"; sleep 0.0{}; printf "{}-$i\n"; done' ::: 1 2 3 4 5 6 7 8)
ok "--line-buffer: no line mixed" "24" "$(printf '%s\n' "$out" | grep -cE '^([1-8])\1-[123]$')"
out=$(timeout 60 "$R" -j4 --line-buffer --tag 'for i in 1 2 3; do printf "{}"; sleep 0.0{}; printf "{}-$i\n"; done' ::: 1 2 3 4 5 6 7 8)
ok "--line-buffer --tag: no line mixed" "24" "$(printf '%s\n' "$out" | grep -cE '^([1-8])	\1\1-[123]$')"
same "--line-buffer -k: in order" -k --line-buffer 'echo {}; sleep 0.{}; echo {}' ::: 3 1 2
same "grouped: stdout and stderr" -k 'echo o{}; echo e{} >&2; echo o{}' ::: 1 2
ok "grouped: a job's stdout, then its stderr" "o1${nl}o1${nl}e1${nl}rc=0" \
	"$(timeout 60 "$R" 'echo o{}; echo e{} >&2; echo o{}' ::: 1 2>&1; echo "rc=$?")"
ok "grouped: stderr stays on stderr" "e1" "$(timeout 60 "$R" 'echo o{}; echo e{} >&2' ::: 1 2>&1 >/dev/null)"
same "a last line without a newline" -k 'printf "x\ny"' ::: a b
same "--tag" -k --tag echo {} ::: a b ::: 1 2
same "--tag on a line without a newline" -k --tag 'printf "x\ny"' ::: a b
same "--tag with quotes in the value" -k --tag echo ::: 'a b' "c'd"
same "--tag -q" -k --tag -q printf 'x\ny\n' ::: a b
same "--tag --colsep" -k --tag --colsep , echo ::: a,b
same "-u" -u -j1 echo ::: a b
same "-u --tag" -u --tag -j1 echo ::: a b
# -u: the job's partial line reaches the reader while the job still runs.
ok "-u: a job's partial line goes out at once" "early-seen" \
	"$(timeout 60 "$R" -u 'printf early; i=0; while [ ! -e u.seen ] && [ $i -lt 800 ]; do sleep 0.05; i=$((i + 1)); done; [ -e u.seen ] && echo -seen || echo -late' ::: 1 |
	   { head -c 5; touch u.seen; cat; })"
ok "a binary output passes whole" "$(head -c 3000 /dev/urandom > rnd; od -An -tx1 rnd | md5sum)" \
	"$(timeout 60 "$R" cat ::: rnd | od -An -tx1 | md5sum)"

# ---- --pipe ----
seq 30 > s30
IN=s30 same "--pipe --block 10: the chunks" -k --pipe --block 10 'echo ---; cat'
IN=s30 same "--pipe --block 1" -k --pipe --block 1 wc -l
printf 'a;bb;ccc;dddd;e' > semi
IN=semi same "--pipe --recend ;" -k --pipe --block 3 --recend ';' 'cat; echo'
printf 'aXYbXYXYccXYd' > xy
IN=xy same "--pipe --recend XY (two bytes)" -k --pipe --block 2 --recend XY 'cat; echo'
IN=s30 same "--pipe --tag" -k --pipe --block 20 --tag cat
IN=s30 same "--pipe --block 1K" -k --pipe --block 1K wc -c
IN=s30 same "--pipe -q" -k --pipe --block 20 -q wc -l
ok "--pipe: every byte once, none cut" "same" \
	"$(seq 200000 > big; timeout 60 "$R" -k --pipe --block 64k cat < big | cmp -s - big && echo same)"
ok "--pipe: the default block is 1 MiB" "2" \
	"$(head -c 1500000 /dev/zero | tr '\0' '\n' | timeout 60 "$R" --pipe wc -l | wc -l | tr -d ' ')"
ok "--pipe: a job that reads nothing does not fail" "rc=0" "$(run --pipe --block 20 'echo {#}' < s30 | tail -1)"
ok "--pipe: its Send column" "81" \
	"$(run --pipe --block 1k --joblog pl cat < s30 >/dev/null; awk -F'\t' 'NR == 2 { print $5 }' pl)"
ok "--pipe --joblog: Send and Receive per chunk" "30 30${nl}30 30${nl}21 21" \
	"$(run --pipe --block 30 -k --joblog pj cat < s30 >/dev/null; tail -n +2 pj | sort -n | awk -F'\t' '{ print $5, $6 }')"
ok "--pipe bad --block: 255" "rc=255" "$(run --pipe --block 1Q cat < s30)"
# --pipe reads stdin only: inputs beside it are an error, as conc-run(1)
# says (GNU parallel runs no job for -a, puts ::: words in the command).
ok "--pipe with ::: words: 255" "rc=255" "$(run --pipe cat ::: a < s30)"
ok "--pipe with :::: a file: 255" "rc=255" "$(run --pipe cat :::: s30 < s30)"
ok "--pipe with -a: 255" "rc=255" "$(run --pipe -a s30 cat < s30)"
grep -q "^conc-run: --pipe reads stdin" err; ok "--pipe with -a: says why" 0 $?

# ---- --joblog ----
run -k --joblog jl 'echo {}; echo err >&2; exit {}' ::: 0 3 'a b' >/dev/null
ok "joblog: the header" "Seq${tab}Host${tab}Starttime${tab}JobRuntime${tab}Send${tab}Receive${tab}Exitval${tab}Signal${tab}Command" \
	"$(head -1 jl)"
ok "joblog: nine columns each" "9 9 9 9" "$(awk -F'\t' '{ printf "%s%s", (NR > 1 ? " " : ""), NF }' jl)"
ok "joblog: Seq Host Send Receive Exitval Signal Command" \
	"1 : 0 2 0 0 echo 0; echo err >&2; exit 0${nl}2 : 0 2 3 0 echo 3; echo err >&2; exit 3${nl}3 : 0 4 2 0 echo 'a b'; echo err >&2; exit 'a b'" \
	"$(tail -n +2 jl | sort -n | awk -F'\t' '{ print $1, $2, $5, $6, $7, $8, $9 }')"
ok "joblog: Starttime is epoch seconds.ms, JobRuntime seconds.ms" "3" \
	"$(tail -n +2 jl | awk -F'\t' '$3 ~ /^[0-9]+\.[0-9][0-9][0-9]$/ && $4 ~ /^ *[0-9]+\.[0-9][0-9][0-9]$/' | wc -l | tr -d ' ')"
run --joblog kl 'kill -9 $$' ::: 1 >/dev/null
ok "joblog: a job SIGKILLed: Signal 9" "0 9" "$(awk -F'\t' 'NR == 2 { print $7, $8 }' kl)"
run --joblog kl2 'kill -USR1 $$' ::: 1 >/dev/null
ok "joblog: a job killed by SIGUSR1: Signal 10" "0 10" "$(awk -F'\t' 'NR == 2 { print $7, $8 }' kl2)"
# resume P: the same runs through P (conc-run or GNU parallel).
resume() {
	rm -f rj
	timeout 60 $1 -k --joblog rj 'echo {}; exit {}' ::: 0 1 0 2 >/dev/null 2>&1
	timeout 60 $1 -k --joblog rj --resume-failed 'echo r{}; exit 0' ::: 0 1 0 2 3 2>&1
	echo "rc=$?"
	timeout 60 $1 -k --joblog rj --resume 'echo s{}' ::: 0 1 0 2 3 4 2>&1
	echo "rc=$?"
	timeout 60 $1 -k --joblog rj --resume-failed 'echo t{}' ::: 0 1 0 2 3 4 2>&1
	echo "rc=$?"
	tail -n +2 rj | cut -f1,7,9 | sort
}
got=$(resume "$R")
ok "--resume-failed, --resume: the failed and the new, once" \
	"r1${nl}r2${nl}r3${nl}rc=0${nl}s4${nl}rc=0${nl}rc=0${nl}1${tab}0${tab}echo 0; exit 0${nl}2${tab}0${tab}echo r1; exit 0${nl}2${tab}1${tab}echo 1; exit 1${nl}3${tab}0${tab}echo 0; exit 0${nl}4${tab}0${tab}echo r2; exit 0${nl}4${tab}2${tab}echo 2; exit 2${nl}5${tab}0${tab}echo r3; exit 0${nl}6${tab}0${tab}echo s4" \
	"$got"
if [ -n "$PAR" ]; then
	ok "as parallel: --resume, --resume-failed" "$(resume "$PAR --will-cite")" "$got"
else
	skip=$((skip + 1))
fi

# ---- --timeout, --retries ----
# The fast job must end within the timeout: on a loaded machine its shell
# may not (its Exitval is then -1), then again with a longer one.
for t in 0.5 2 10 30; do
	got=$(run --joblog tf --timeout $t 'sleep {}; echo fast' ::: 0 60)
	[ "$(awk -F'\t' '$1 == 1 { print $7 }' tf)" = 0 ] && break
done
ok "--timeout: the slow job fails, the others not" "fast${nl}rc=1" "$got"
grep -q "^conc-run: " err; ok "--timeout: a line on stderr" 0 $?
run --joblog tl --timeout 0.3 'sleep 30' ::: 1 >/dev/null
ok "--timeout: TERM, Exitval -1, Signal 15" "-1 15" "$(awk -F'\t' 'NR == 2 { print $7, $8 }' tl)"
# The job touches "armed" once TERM is ignored; a TERM before that (a slow
# start) proves nothing: again with a longer timeout.
for t in 0.3 2 10 30; do
	rm -f armed tl2
	run --joblog tl2 --timeout $t 'trap "" TERM; : > armed; sleep 30; sleep 30' ::: 1 >/dev/null
	[ -e armed ] && break
done
ok "--timeout: TERM ignored, then KILL" "-1 9" "$(awk -F'\t' 'NR == 2 { print $7, $8 }' tl2)"
# alive PID: running (not gone, not a zombie), within a bounded wait.
alive() {
	i=0
	while [ $i -lt 400 ]; do
		st=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)
		[ -z "$st" ] || [ "$st" = Z ] && { echo gone; return; }
		sleep 0.05
		i=$((i + 1))
	done
	echo alive
}
ok "--timeout: the job's children go too" "gone" \
	"$(run --timeout 0.3 ': {}; sleep 30 & echo $! > child; wait' ::: 1 >/dev/null; alive "$(cat child)")"
ok "--timeout bad: 255" "rc=255" "$(run --timeout soon true ::: 1)"
same "--retries 2" -k --retries 2 'echo {}; exit {}' ::: 0 1 2
echo 0 > cnt
ok "--retries: retried until it succeeds" "third${nl}rc=0" \
	"$(run --retries 5 ': {}; n=$(cat cnt); echo $((n + 1)) > cnt; [ $n -ge 2 ] && echo third' ::: 1)"
ok "--retries: three runs" "3" "$(cat cnt)"

# ---- --halt ----
for h in now,fail=1 soon,fail=1 now,fail=2 soon,fail=2 now,success=2 soon,success=1 now,done=2 1 2; do
	same "--halt $h" -j1 --halt $h 'echo {}; exit {}' ::: 0 7 0 3 4 5
done
for h in now,fail=50% soon,fail=50% now,fail=30% soon,fail=20% now,fail=10% now,success=50% soon,done=30%; do
	same "--halt $h" -j1 --halt $h 'exit {}' ::: 0 1 0 1 2 0 0 0 0 0
done
same "--halt now,fail=50% never reached: the percentage" -j1 --halt now,fail=50% 'exit {}' ::: 0 1 0 1 2 0 0
ok "--halt fail=50% never reached: the percentage" "rc=43" \
	"$(run -j1 --halt now,fail=50% 'exit {}' ::: 0 1 0 1 2 0 0)"
ok "--halt now,fail=1: the failing job's status" "rc=7" "$(run -j1 --halt now,fail=1 'exit {}' ::: 0 7 3)"
ok "--halt now,fail=1: a killed job, 128+signal" "rc=143" "$(run -j1 --halt now,fail=1 'kill -TERM $$' ::: 0 7 3)"
# A job the --timeout killed has Exitval -1 in the log: GNU parallel exits
# with that (255), not with 128 + the signal it was sent.
ok "--halt now,fail=1: a timed-out job, 255" "rc=255" \
	"$(run -j1 --halt now,fail=1 --timeout 0.3 'sleep 30' ::: 1 2)"
same "--halt soon,fail=1: a timed-out job" -j1 --halt soon,fail=1 --timeout 0.3 'sleep 30' ::: 1 2
ok "--halt now: kills the running, drops their output" "rc=1" \
	"$(run -j2 --halt now,fail=1 'if [ {} = 1 ]; then echo never; sleep 30; else sleep 0.3; exit 1; fi' ::: 1 2)"
ok "--halt soon: waits for the running" "late${nl}rc=1" \
	"$(run -j2 --halt soon,fail=1 'if [ {} = 1 ]; then i=0; while [ ! -e h2 ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i + 1)); done; echo late; else touch h2; exit 1; fi' ::: 1 2 3)"

# ---- --dry-run, --delay ----
ok "--dry-run prints the line" "touch dry1${nl}rc=0" "$(run --dry-run touch dry{} ::: 1)"
ok "--dry-run runs nothing" "no" "$([ -e dry1 ] && echo yes || echo no)"
same "--dry-run -n 2" -k --dry-run -n2 echo ::: a b c
same "--dry-run --tag: the tag first" -k --dry-run --tag echo ::: a 'b c'
ok "--dry-run --tag: the tag first" "a${tab}echo a${nl}b c${tab}echo 'b c'${nl}rc=0" "$(run -k --dry-run --tag echo ::: a 'b c')"
same "--dry-run --pipe" --dry-run --pipe cat < /dev/null
ok "--delay: all run, in order with -k" "1${nl}2${nl}3${nl}rc=0" "$(run -k --delay 0.05 echo ::: 1 2 3)"
ok "--delay bad: 255" "rc=255" "$(run --delay x echo ::: 1)"

# ---- exit status ----
same "exit: the number failed" 'exit {}' ::: 0 1 2 255
seq 100 > s100
seq 101 > s101
IN=s100 same "exit: 100 failed" -j4 false
IN=s101 same "exit: 101 failed" -j4 false
ok "exit: 100 failed" "rc=100" "$(run -j4 false < s100)"
ok "exit: 101 for more than 100" "rc=101" "$(run -j4 false < s101)"
ok "exit: a job not found counts failed" "rc=1" "$(run /no/such/program ::: 1)"
ok "exit: unreadable :::: file: 255" "rc=255" "$(run echo :::: /no/such/file)"
for o in --bogus -x --jobs; do
	ok "exit: bad option $o: 255" "rc=255" "$(run $o echo ::: 1)"
	case $(head -1 err) in
	"conc-run: "*": "*) ok "message for $o: tool: what: why" 1 1 ;;
	*) ok "message for $o: tool: what: why" "conc-run: ...: ..." "$(head -1 err)" ;;
	esac
done
ok "--version" "yes" "$("$R" --version | grep -q '^conc-run ' && echo yes)"
ok "--help on stdout, 0" "0" "$("$R" --help | grep -q . ; echo $?)"

# ---- signals to conc-run ----
# reap PID: wait for it (SIGKILL after 20 s), then "rc=N". Not timeout(1):
# it would pass a signal on to conc-run twice, and a second one means
# SIGKILL now.
reap() {
	i=0
	while kill -0 "$1" 2>/dev/null && [ $i -lt 1200 ]; do sleep 0.05; i=$((i + 1)); done
	kill -9 "$1" 2>/dev/null
	wait "$1"
	echo "rc=$?"
}
# sig SIGNAL: three jobs, two running, that trap TERM/INT to leave a
# mark; conc-run is sent SIGNAL once both have started.
sig() {
	rm -f sl mark.* started.* sig.out
	# A script's background commands start with SIGINT ignored, and so
	# would the jobs: perl puts it back for that one.
	$DFL "$R" -j2 --joblog sl \
		'trap "touch mark.{}; exit 0" TERM INT HUP; echo half-{}; touch started.{}; sleep 30 & wait' \
		::: 1 2 3 > sig.out 2>&1 &
	pid=$!
	i=0
	while [ "$(ls started.* 2>/dev/null | wc -l)" -lt 2 ] && [ $i -lt 800 ]; do sleep 0.05; i=$((i + 1)); done
	kill -"$1" $pid
	reap $pid
}
DFL=
ok "SIGTERM: exit 255" "rc=255" "$(sig TERM)"
ok "SIGTERM: the running jobs got it and ended before conc-run" "mark.1 mark.2" "$(echo mark.*)"
ok "SIGTERM: no job started after" "started.1 started.2" "$(echo started.*)"
ok "SIGTERM: nothing of the stopped jobs printed" "" "$(cat sig.out)"
ok "SIGHUP: exit 255, the jobs told" "rc=255 mark.1 mark.2" "$(sig HUP) $(echo mark.*)"
if command -v perl >/dev/null 2>&1; then
	DFL="perl -e \$SIG{INT}=q(DEFAULT);exec(@ARGV)||die"
	ok "SIGINT: exit 255, the jobs told, no new one" "rc=255 mark.1 mark.2 started.1 started.2" \
		"$(sig INT) $(echo mark.*) $(echo started.*)"
	ok "SIGINT: nothing of the stopped jobs printed" "" "$(cat sig.out)"
	DFL=
else
	echo "skip: SIGINT to conc-run (no perl to undo the ignored SIGINT)"
	skip=$((skip + 1))
fi
# Jobs that ignore the signal are KILLed, and the log says so.
rm -f sl started.*
"$R" -j2 --joblog sl 'trap "" TERM; touch started.{}; sleep 30; sleep 30' ::: 1 2 3 >/dev/null 2>&1 &
pid=$!
i=0
while [ "$(ls started.* 2>/dev/null | wc -l)" -lt 2 ] && [ $i -lt 800 ]; do sleep 0.05; i=$((i + 1)); done
kill -TERM $pid
reap $pid >/dev/null
ok "SIGTERM ignored by the jobs: KILLed, Signal 9 in the log" "-1 9${nl}-1 9" \
	"$(tail -n +2 sl | awk -F'\t' '{ print $7, $8 }')"
# Output of jobs that ended before the signal is printed whole.
rm -f started.*
"$R" -j2 'if [ {} = 1 ]; then seq 50000; else touch started.{}; sleep 30; fi' ::: 1 2 > sig.out 2>&1 &
pid=$!
i=0
while [ ! -e started.2 ] && [ $i -lt 800 ]; do sleep 0.05; i=$((i + 1)); done
i=0
while [ "$(wc -l < sig.out)" -lt 50000 ] && [ $i -lt 800 ]; do sleep 0.05; i=$((i + 1)); done
kill -TERM $pid
reap $pid >/dev/null
ok "a signal: what ended before is printed whole" "same" "$(seq 50000 | cmp -s - sig.out && echo same)"

# ---- fifth session: what the first probes passed over ----
# --colsep trims white space off each column, as GNU parallel (its --trim
# is lr with --colsep): "a, b" gives b, not " b".
printf ' d , e \n x,\ty \n' > trim
ok "--colsep: columns trimmed" "[d] [e]${nl}[x] [y]${nl}rc=0" "$(run -k --colsep , echo '[{1}]' '[{2}]' < trim)"
ok "--colsep: {} trimmed" "[d e]${nl}[x y]${nl}rc=0" "$(run -k --colsep , echo '[{}]' < trim)"
ok "--colsep: appended, trimmed" "d,e${nl}x,y${nl}rc=0" "$(run -k --colsep , -q printf '%s,%s\n' < trim)"
ok "--colsep --tag: the tag trimmed" "d e${tab}d e${nl}rc=0" "$(run -k --colsep , --tag echo ::: ' d , e ')"
IN=trim same "--colsep: columns trimmed" -k --colsep , echo '[{1}]' '[{2}]' '[{}]'
IN=trim same "--colsep --dry-run: trimmed" -k --colsep , --dry-run echo
IN=trim same "--colsep --tag: trimmed" -k --colsep , --tag echo '{2/}'
ok "no --colsep: nothing trimmed" "[ d , e ]${nl}rc=0" "$(run echo '[{}]' ::: ' d , e ')"

# --block's suffixes as GNU parallel's: k m g are powers of 1000, K M G
# (and ki, Ki, ...) powers of 1024.
seq 1000 > s1000
ok "--pipe --block 1k is 1000 bytes" "1000 1000 1000 893 " \
	"$(timeout 60 "$R" -k --pipe --block 1k wc -c < s1000 | tr -d ' ' | tr '\n' ' ')"
ok "--pipe --block 1K is 1024 bytes" "1024 1024 1024 821 " \
	"$(timeout 60 "$R" -k --pipe --block 1K wc -c < s1000 | tr -d ' ' | tr '\n' ' ')"
ok "--pipe --block 1ki is 1024 bytes" "1024 1024 1024 821 " \
	"$(timeout 60 "$R" -k --pipe --block 1ki wc -c < s1000 | tr -d ' ' | tr '\n' ' ')"
ok "--pipe --block 1m is 10^6 bytes" "500000 1000000 1000000 " \
	"$(head -c 2500000 /dev/zero | tr '\0' '\n' | timeout 60 "$R" --pipe --block 1m wc -c | sort -n | tr -d ' ' | tr '\n' ' ')"
IN=s1000 same "--pipe --block 1k" -k --pipe --block 1k wc -c
IN=s1000 same "--pipe --block 2k" -k --pipe --block 2k wc -c

# A process a job started that ignores the TERM outlived its job: the
# KILL a grace later went to the job's group only while its leader was
# there. Stopped by a signal to conc-run, a --timeout or --halt now, no
# process of the job's group may be left once conc-run is done (GNU
# parallel leaves none either).
# gc: the job's child that ignores TERM, INT and HUP, its pid in gc.{}.
gc='sh -c "trap \"\" TERM INT HUP; echo \$\$ > gc.{}; exec sleep 30" & wait'
rm -f gc.*
"$R" -j2 "$gc" ::: 1 2 >/dev/null 2>&1 &
pid=$!
i=0
while [ "$(ls gc.* 2>/dev/null | wc -l)" -lt 2 ] && [ $i -lt 800 ]; do sleep 0.05; i=$((i + 1)); done
kill -TERM $pid
reap $pid > gc.rc
ok "SIGTERM: a job's child that ignores it: rc" "rc=255" "$(cat gc.rc)"
ok "SIGTERM: a job's child that ignores it is KILLed" "gone gone" "$(alive "$(cat gc.1)") $(alive "$(cat gc.2)")"
kill -9 "$(cat gc.1)" "$(cat gc.2)" 2>/dev/null
rm -f gc.*
ok "--timeout: a job's child that ignores TERM: rc" "rc=1" "$(run --timeout 0.3 "$gc" ::: 1)"
ok "--timeout: a job's child that ignores TERM is KILLed" "gone" "$(alive "$(cat gc.1)")"
kill -9 "$(cat gc.1)" 2>/dev/null
rm -f gc.*
ok "--halt now: a job's child that ignores TERM: rc" "rc=3" \
	"$(run -j2 --halt now,fail=1 "if [ {} = 1 ]; then $gc; else while [ ! -e gc.1 ]; do sleep 0.05; done; exit 3; fi" ::: 1 2)"
ok "--halt now: a job's child that ignores TERM is KILLed" "gone" "$(alive "$(cat gc.1)")"
kill -9 "$(cat gc.1)" 2>/dev/null

# --dry-run over a billion combinations printed them all before it looked
# at anything else: a reader gone (or a full disk) and a signal waited
# for the end, minutes later.
k=$(seq 1000 | tr '\n' ' ')
ok "--dry-run: stops when the output fails" "rc=255" "$(timeout 60 "$R" --dry-run echo ::: $k ::: $k ::: $k > /dev/full 2>/dev/null; echo "rc=$?")"
"$R" --dry-run echo ::: $k ::: $k ::: $k > dry.out 2>/dev/null &
pid=$!
i=0
while [ ! -s dry.out ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i + 1)); done
kill -TERM $pid
reap $pid > dry.rc
ok "--dry-run: a signal stops it" "rc=255" "$(cat dry.rc)"
rm -f dry.out

# ---- sixth session: a second hidden tester, option by option ----
# -j: 0% or -N that leaves no job is GNU parallel's error (255), not -j 1.
ncpu=$(nproc)
same "-j 0%: no job can run" -j 0% echo ::: a
same "-j -N of N CPUs: no job can run" -j "-$ncpu" echo ::: a
ok "-j 0%: 255" "rc=255" "$(run -j 0% echo ::: a)"
ok "-j -N of N CPUs: 255" "rc=255" "$(run -j "-$ncpu" echo ::: a)"
ok "-j 1%: rounded up to one" "a${nl}rc=0" "$(run -j 1% echo ::: a)"
# -d takes octal escapes, as printf(1) and GNU parallel's -d.
IN=colon same "-d '\\072' is ':'" -k -d '\072' echo '[{}]'
ok "-d '\\072' is ':'" "[a]${nl}[b]${nl}[]${nl}[c]${nl}[${nl}]${nl}rc=0" "$(run -k -d '\072' echo '[{}]' < colon)"
printf 'a\tb' > tabbed
ok "-d '\\11' is a tab" "[a]${nl}[b]${nl}rc=0" "$(run -k -d '\11' echo '[{}]' < tabbed)"

# --joblog with -k: GNU parallel writes each line as the job's output is
# printed, so in input order; conc-run wrote them as the jobs ended.
# Job 1 ends last: it waits (bounded) for the mark job 3 leaves.
rm -f mark3
run -k -j3 --joblog jk 'if [ {} = 1 ]; then i=0; while [ ! -e mark3 ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done; fi; [ {} = 3 ] && touch mark3; echo {}' ::: 1 2 3 >/dev/null
ok "--joblog -k: lines in input order" "Seq 1 2 3" "$(cut -f1 jk | tr '\n' ' ' | sed 's/ $//')"
# --joblog -: the log on stdout, each line after its job's output (it
# was a file named -).
rm -f ./-
ok "--joblog -: on stdout" "Seq${tab}Exitval${tab}Signal${tab}Command${nl}a${nl}1${tab}0${tab}0${tab}echo a${nl}b${nl}2${tab}0${tab}0${tab}echo b" \
	"$(timeout 60 "$R" -k --joblog - echo ::: a b | cut -f1,7-)"
ok "--joblog -: no file named -" "no" "$(test -e ./- && echo yes || echo no)"
if [ -n "$PAR" ]; then
	ok "--joblog - -k: as parallel" \
		"$(timeout 60 $PAR --will-cite -k --joblog - 'echo {}; exit {}' ::: 0 1 2 | cut -f1,2,5-)" \
		"$(timeout 60 "$R" -k --joblog - 'echo {}; exit {}' ::: 0 1 2 | cut -f1,2,5-)"
fi
ok "--joblog - --resume: an error" "rc=255" "$(run --joblog - --resume echo ::: a)"

# --pipe cuts as GNU parallel: a record longer than --block grows the
# block for good (1.3x + 1, a warning on stderr), and the next chunk is
# the records up to the last end within the grown block; conc-run cut at
# the first record end instead, so chunks differed from there on.
printf 'aaaa\nb\ncccccccccc\nd\ne\nffffffffffffffffffff\ng\n' > longrec
ok "--pipe: a record longer than the block grows it" "5 2 11 4 23 " \
	"$(timeout 60 "$R" -k --pipe --block 3 wc -c < longrec 2>/dev/null | tr -d ' ' | tr '\n' ' ')"
IN=longrec same "--pipe --block 3: long records" -k --pipe --block 3 wc -c
IN=longrec same "--pipe --block 1: long records" -k --pipe --block 1 cat
perl -e 'srand(7); for (1..60) { print "x" x int(rand(rand() < 0.1 ? 9000 : 300)), "\n" }' > rnd
IN=rnd same "--pipe --block 2k: records up to 9 kB" -k --pipe --block 2k wc -c
IN=rnd same "--pipe --block 5k: records up to 9 kB" -k --pipe --block 5k wc -c
printf 'a:b::c:\nd' > colon2
IN=colon2 same "--pipe --recend : --block 2" -k --pipe --recend : --block 2 'cat; echo'
# -n N with --pipe: N records per job, as GNU parallel (it was ignored).
ok "--pipe -n 3: three records a job" "1 2 3 ${nl}4 5 6 ${nl}7 8 9 ${nl}10 ${nl}rc=0" \
	"$(seq 10 | timeout 60 "$R" -k --pipe -n 3 'tr "\n" " "; echo'; echo "rc=$?")"
IN=s30 same "--pipe -n 7" -k --pipe -n 7 wc -l
IN=s30 same "--pipe -n 7 --block 20" -k --pipe -n 7 --block 20 wc -l
IN=rnd same "--pipe -n 5 --block 1k: long records" -k --pipe -n 5 --block 1k wc -c
printf '\n\na\n\nb\nc\n' > emptyl
IN=emptyl same "--pipe -n 1: empty records" -k --pipe -n 1 'od -An -c'

# --colsep splits as perl's split, GNU parallel's: a regex that matches
# the empty string ("b*" where there is no b) splits between characters
# (conc-run kept the whole input as one column); perl's \d is a digit.
ok "--colsep 'b*': perl's split" "a:c:${nl}x:y:z${nl}rc=0" \
	"$(run -k --colsep 'b*' echo '{1}:{2}:{3}' ::: abbbc xyz)"
ok "--colsep 'b*': a trailing empty column" "[a] [c] []${nl}rc=0" \
	"$(run -k --colsep 'b*' -q printf '[%s] [%s] [%s]\n' ::: abc)"
ok "--colsep '\\d'" "a:b:c${nl}rc=0" "$(run -k --colsep '\d' echo '{1}:{2}:{3}' ::: a1b2c)"
ok "--colsep '[,\\d]+'" "a:b:c${nl}rc=0" "$(run -k --colsep '[,\d]+' echo '{1}:{2}:{3}' ::: a,1b22c)"
for re in 'b*' 'x?' 'b|' '|' '\d' '\D' '[^\d]' '\d*' ',*' ' *' '[[:space:]\d]'; do
	same "--colsep '$re'" -k --colsep "$re" echo '{1}:{2}:{3}:{4}:{5}' ::: abbbc bab b xyz ' a b ' a,b, 'a1 2b' ''
	same "--colsep '$re', appended" -k --colsep "$re" echo ::: abbbc bab b ' a b ' 'a1 2b' ''
done

# {-n}: the n-th argument from the last, as GNU parallel (it was left as
# text, and the arguments appended); {= perl =} is refused, not text.
ok "{-1} {-2}" "c a${nl}rc=0" "$(run echo {-1} {-2} ::: a ::: c)"
same "{-1} {-2} over two sources" -k echo {-1} {-2} ::: a b ::: c d
same "{-1} {-3} of columns" -k --colsep , echo {-1} {-3} ::: a,b,c x,y
same "{-1} with -n 2" -k -n 2 echo {-1} ::: a b c
same "{-1.} {-1/} {-2//}" -k echo {-1.} {-1/} {-2//} ::: a/b.c ::: d/e.f
same "{-3} {-5} of two" -k echo {-3} {-5} ::: a ::: b
ok "{= perl =}: 255" "rc=255" "$(run echo '{= s/a/b/ =}' ::: a)"
ok "{= perl =} over words: 255" "rc=255" "$(run echo '{=' 's/a/b/' '=}' ::: a)"
ok "{=} is text" "{=} a${nl}rc=0" "$(run echo '{=}' ::: a)"

# Beside sources with inputs, an empty one is one empty argument (GNU
# parallel); conc-run ran no job at all.
ok "an empty ::: beside another: one empty argument" "[] [a]${nl}rc=0" \
	"$(run -q printf '[%s] [%s]\n' ::: ::: a)"
same "an empty ::: beside another" -k echo {1}-{2} ::: ::: a
same "an empty :::: file beside a :::" -k echo :::: /dev/null ::: a b
same "an empty -a file beside a :::" -k -a /dev/null echo ::: a
same "an empty :::+" -k echo ::: a b :::+ ::: c
same "all sources empty: no job" -k echo ::: :::
# :::+ after -a files: GNU parallel counts the + from the first source,
# -a files included (so ::::+ right after -a goes across, not along).
printf 'x\ny\nz\n' > fx
printf '1\n2\n' > f12
same "-a F ::::+ G" -k -a fx echo ::::+ f12
same "-a F :::+ words" -k -a fx echo :::+ p q r
same "-a F ::: a b :::+ 1 2" -k -a fx echo ::: a b :::+ 1 2
same "-a F -a G ::: a b :::+ 1 2" -k -a fx -a f12 echo ::: a b ::: c d :::+ 1 2
same ":::: F G ::::+ F" -k echo :::: fx f12 ::::+ fx
same "::: :::+ :::+" -k echo ::: a b :::+ 1 2 :::+ p q

# A ::: word with a newline (or -d's character) in it is that many
# inputs, as GNU parallel ("a\n" is a and ""); it was one input.
ok "::: a word with a newline: two inputs" "[a]${nl}[b]${nl}[x]${nl}rc=0" "$(run -k echo '[{}]' ::: "a${nl}b" x)"
ok "::: a word ending in a newline: an empty input after" "[a]${nl}[]${nl}rc=0" "$(run -k echo '[{}]' ::: "a${nl}")"
same "::: words with newlines" -k -q printf '[%s]\n' ::: "a${nl}b" "a${nl}" "${nl}a" "a${nl}${nl}b" "${nl}" x
same "::: words with newlines, a second source" -k echo '[{1}] [{2}]' ::: "a${nl}b" ::: 1 "2${nl}3"
same "::: words with -d's character" -k -d : echo '[{}]' ::: 'a:b:' x
same "::: words with -0: a newline stays" -k -0 -q printf '[%s]\n' ::: "a${nl}b"

# --timeout and --delay take GNU parallel's units, several (1m30s).
ok "--timeout 1m30s" "a${nl}rc=0" "$(run --timeout 1m30s echo ::: a)"
ok "--timeout 1h2m3.5s" "a${nl}rc=0" "$(run --timeout 1h2m3.5s echo ::: a)"
ok "--delay 0m0.01s" "a${nl}b${nl}rc=0" "$(run -k --delay 0m0.01s echo ::: a b)"
ok "--timeout 1s2: a number without a unit after one: 255" "rc=255" "$(run --timeout 1s2 echo ::: a)"
ok "--timeout 10%: of the median, as GNU parallel" "a${nl}rc=0" "$(run --timeout 10% echo ::: a)"
same "--timeout 2m1s" -k --timeout 2m1s echo ::: a b
same "--timeout 1x: an error" --timeout 1x echo ::: a

# $PARALLEL_SHELL runs the command line, as GNU parallel's.
if [ -x /bin/bash ]; then
	ok "PARALLEL_SHELL=/bin/bash: bash runs it" "1 2 3 x${nl}rc=0" \
		"$(PARALLEL_SHELL=/bin/bash timeout 60 "$R" 'echo {1..3}' ::: x; echo "rc=$?")"
	if [ -n "$PAR" ]; then
		ok "PARALLEL_SHELL=/bin/bash: as parallel" \
			"$(PARALLEL_SHELL=/bin/bash timeout 60 $PAR --will-cite -k 'echo {1..3} $0' ::: x y; echo "rc=$?")" \
			"$(PARALLEL_SHELL=/bin/bash timeout 60 "$R" -k 'echo {1..3} $0' ::: x y; echo "rc=$?")"
	fi
fi
ok "no PARALLEL_SHELL: /bin/sh" "/bin/sh x${nl}rc=0" "$(env -u PARALLEL_SHELL timeout 60 "$R" 'echo $0' ::: x; echo "rc=$?")"
# A $PARALLEL_SHELL that is no program is an error before anything runs,
# as GNU parallel's ("Shell '...' not found.", 255), not a failed job each.
psh() { sh=$1; shift; PARALLEL_SHELL=$sh timeout 60 "$R" "$@" 2>"$T/err"; echo "rc=$?"; }
rm -f ran
ok "PARALLEL_SHELL missing: 255" "rc=255" "$(psh /nonexistent/sh 'echo x > ran' ::: a b)"
[ -e ran ]; ok "PARALLEL_SHELL missing: no job ran" 1 $?
ok "PARALLEL_SHELL missing: the message" "conc-run: shell '/nonexistent/sh' not found" "$(cat "$T/err")"
ok "PARALLEL_SHELL not on PATH: 255" "rc=255" "$(psh no-such-shell-here true ::: a)"
ok "PARALLEL_SHELL not executable: 255" "rc=255" "$(psh /etc/passwd true ::: a)"
ok "PARALLEL_SHELL a directory: 255" "rc=255" "$(psh /bin true ::: a)"
ok "PARALLEL_SHELL missing, -q: 255" "rc=255" "$(psh /nonexistent/sh -q true ::: a)"
ok "PARALLEL_SHELL missing, no input: 255" "rc=255" "$(psh /nonexistent/sh true </dev/null)"
ok "PARALLEL_SHELL=sh: found on PATH" "x${nl}rc=0" "$(psh sh echo ::: x)"
ok "PARALLEL_SHELL empty: /bin/sh" "/bin/sh x${nl}rc=0" "$(psh '' 'echo $0' ::: x)"
if [ -n "$PAR" ]; then
	for a in "/nonexistent/sh true ::: a" "/etc/passwd -q true ::: a" "/nonexistent/sh --dry-run true ::: a" "sh echo ::: x"; do
		set -- $a
		ok "as parallel: PARALLEL_SHELL=$a" \
			"$(sh=$1; shift; PARALLEL_SHELL=$sh timeout 60 $PAR --will-cite "$@" 2>/dev/null </dev/null; echo "rc=$?")" \
			"$(psh "$@" </dev/null)"
	done
	set --
fi

# A line longer than GNU parallel's 63664 bytes (there "Command line too
# long", 255) runs when the kernel takes it; a word the kernel refuses
# (over 128 KiB) is a job that failed with 126, as conc-run(1) says.
big=$(head -c 100000 /dev/zero | tr '\0' b)
ok "a 100 kB line runs" "100001${nl}rc=0" \
	"$(printf '%s\n' "$big" | timeout 60 "$R" 'echo {} | wc -c' 2>"$T/err"; echo "rc=$?")"
ok "a 100 kB word runs, -q" "100001${nl}rc=0" \
	"$(printf '%s\n' "$big" | timeout 60 "$R" -q sh -c 'echo "$1" | wc -c' sh {} 2>"$T/err"; echo "rc=$?")"
big=$big$big
ok "a 200 kB word: the job fails, 126" "rc=1${nl}126" \
	"$(printf '%s\n' "$big" | timeout 60 "$R" --joblog big.log 'echo {} | wc -c' 2>"$T/err"; echo "rc=$?"; awk -F'\t' 'NR == 2 { print $7 }' big.log)"
grep -q "Argument list too long" "$T/err"; ok "a 200 kB word: says why" 0 $?
ok "a 200 kB word, -q: the job fails" "rc=1" \
	"$(printf '%s\n' "$big" | timeout 60 "$R" -q echo {} 2>"$T/err"; echo "rc=$?")"

# -n 0: one input a job, none of it on the line (GNU parallel); was 255.
ok "-n 0: a job per input, no argument" "x${nl}x${nl}rc=0" "$(run -k -n0 echo x ::: a b)"
same "-n 0" -k -n 0 echo x ::: a b
same "-n 0 {} {#}" -k -n 0 'echo [{}] {#}' ::: a b
same "-n 0 --dry-run" -k -n 0 --dry-run echo x ::: a b
IN=seven same "-n 0 stdin" -k -n 0 echo x

# --recend '': blocks of exactly --block bytes, as GNU parallel (binary
# input); it was an error.
head -c 2500 /dev/urandom > bin2500
ok "--recend '': exact blocks" "1000 1000 500 " \
	"$(timeout 60 "$R" -k --pipe --block 1k --recend '' wc -c < bin2500 | tr -d ' ' | tr '\n' ' ')"
ok "--recend '': every byte once, in order" "same" \
	"$(timeout 60 "$R" -k --pipe --block 1000 --recend '' cat < bin2500 | cmp -s - bin2500 && echo same)"
IN=bin2500 same "--recend '' --block 1k" -k --pipe --block 1k --recend '' md5sum
IN=bin2500 same "--recend '' -n 700" -k --pipe --block 1k -n 700 --recend '' md5sum

# --pipe: {} and the others are '' for a chunk, as GNU parallel (they
# were nothing, so 'echo {} x' lost an argument); no command: an error.
ok "--pipe: {} is ''" "echo '' '' 1${nl}rc=0" "$(printf 'a\n' | run --pipe --dry-run 'echo {} {1.} {#}')"
IN=s30 same "--pipe: {} is '' (-q)" -k --pipe --block 20 -q sh -c 'cat >/dev/null; printf "[%s]\\n" "$@"' sh {} x
IN=s30 same "--pipe --dry-run {}" -k --pipe --block 20 --dry-run echo {} {/} x
IN=s30 same "--pipe: nothing appended" -k --pipe --block 20 wc -l
IN=s30 same "--pipe --tag" -k --pipe --block 20 --tag wc -l
IN=s30 same "--pipe and no command: an error" -k --pipe --dry-run

# ---- -N: N arguments a job, in context (GNU's --max-replace-args) ----
same "-N 2 appended" -k -N2 echo ::: a.x 'b c' d
same "-N 2: x{}y once per argument" -k -N2 echo x{}y ::: a.x 'b c' d
same "-N 2: {1}-{2} once, {} per argument" -k -N2 echo {1}-{2} {} ::: a.x 'b c' d
same "-N 2: a group with {} and {#}" -k -N2 echo x{}{#} ::: a.x 'b c' d
same "-N 2: a group with {} and {1}" -k -N2 echo x{}{1} ::: a.x 'b c' d
same "-N 2: {-1} in each copy" -k -N2 --dry-run echo {-1}x{} ::: a.x 'b c' d
same "-N 0: none on the line" -k -N0 --dry-run echo hi ::: a b c
same "-N 0: x{}y is xy" -k -N0 --dry-run echo x{}y ::: a b c
same "-N 2: groups inside one word" -k -N2 --dry-run echo 'x{} y{}' ::: a.x 'b c' d
same "-N 2: a group without one, once" -k -N2 --dry-run echo 'a b'{} ::: a.x 'b c' d
same "-N 2: a tab starts the next group" -k -N2 --dry-run echo 'x{.}y	{/}' ::: a.b/c.d e/f
same "-N 2: two tabs" -k -N2 --dry-run echo 'x{.}y		{/}	x' ::: a.b/c.d e/f
same "-N 2 -q: each copy its own word" -k -N2 -q printf '[%s]\n' 'a {} b' ::: a.x 'b c' d
same "-N 2 -q --dry-run" -k -N2 -q --dry-run printf '[%s]\n' 'a {} b' ::: a.x 'b c' d
same "-N 2 with two sources: records" -k -N2 --dry-run echo x{}y ::: a b ::: 1 2
same "-N 2 with two sources: {3}" -k -N2 --dry-run echo x{1}y{3} ::: a b ::: 1 2
same "-N 2 --colsep" -k -N2 --dry-run --colsep , echo x{}y ::: a,b c,d e
same "-N over -n" -k -N2 -n3 echo ::: a b c d e
same "-n then -N: -N still" -k -n3 -N2 echo ::: a b c d e
same "--max-replace-args" -k --max-replace-args 2 echo x{}y ::: a b c
same "-N 2 --tag" -k -N2 --tag echo x{}y ::: a b c
same "-N 1: an empty argument" -k -N1 echo x{}y ::: '' a
printf 'a \nb\nc\t\nd\ne\n\nf\n' > Lin
IN=Lin same "-N 2 stdin" -k -N2 echo x{}y
IN=Lin same "-N 2 --pipe: records a chunk" -k -N2 --pipe wc -l
ok "-N 2: x{}y" "xay xby${nl}xcy${nl}rc=0" "$(run -k -N2 echo x{}y ::: a b c)"
ok "-N 2 -q: a group's copies are words" "[a x]${nl}[y b]${nl}rc=0" \
	"$(run -k -N2 -q printf '[%s]\n' 'a {} b' ::: x y)"
ok "-N bad" "rc=255" "$(run -N x echo ::: a)"

# ---- --tagstring ----
same "--tagstring T{}-{#}" -k -j1 --tagstring 'T{}-{#}' 'echo 1 {}; echo 2 >&2' ::: a.x 'b c'
same "--tagstring wins over --tag" -k -j1 --tagstring 'T{}' --tag 'echo 1 {}' ::: a.x 'b c'
same "--tag then --tagstring" -k -j1 --tag --tagstring 'T{}' 'echo 1 {}' ::: a.x 'b c'
same "--tagstring \\t and {%}" -k -j1 --tagstring 'T{}\t{%}' 'echo 1 {}' ::: a.x 'b c'
same "--tagstring \\n: two lines a tag" -k -j1 --tagstring '<{}>\n' 'echo 1 {}; echo 2' ::: a.x 'b c'
same "--tagstring octal escapes" -k -j1 --tagstring 'a\101b\12d' 'echo 1 {}' ::: a.x 'b c'
same "--tagstring -N 2: in context" -k --tagstring 'x{}y' -N2 'echo 1 {}' ::: a.x 'b c' d
same "--tagstring -n 2" -k --tagstring 'x{}y' -n2 'echo 1 {}' ::: a.x 'b c' d
same "--tagstring {.}" -k --tagstring '{.}' echo ::: a.x 'b c'
same "--tagstring --colsep {1}" -k --tagstring 'x{1}y' --colsep , echo ::: a,b c,d
same "--tagstring --line-buffer" -k --line-buffer --tagstring 'x{}y' 'echo 1 {}; echo 2' ::: a.x 'b c'
same "--tagstring -u" -j1 -u --tagstring 'x{}y' 'echo 1 {}' ::: a.x 'b c'
same "--tagstring --dry-run" -k --dry-run --tagstring 'x{}y' echo ::: a.x 'b c'
same "--tagstring: a line without a newline" -k --tagstring '{#}' 'printf {}' ::: a b
ok "--tagstring" "x1-a${tab}a${nl}x2-b${tab}b${nl}rc=0" "$(run -k --tagstring 'x{#}-{}' echo ::: a b)"
ok "--tagstring, stderr too" "rc=0 x${tab}e" "$(run --tagstring x ': {}; echo e >&2' ::: a) $(cat err)"

# ---- -X, -m, --xargs: as many arguments a job as the line allows ----
# GNU parallel cuts where its estimate of the line's length reaches its
# limit (63664 on Linux), then spreads the last line over the -j slots.
seq 30000 > s30k
IN=s30k same "-X -j1: cut at the line length" -k -j1 -X echo
IN=s30k same "-X -j2: the last line spread over the slots" -k -j2 -X echo
IN=s30k same "-X x{}y {#}" -k -j1 -X echo x{}y {#}
IN=s30k same "-m x{}y {#}" -k -j1 -m echo x{}y {#}
IN=s30k same "-m -j3" -k -j3 -m echo
IN=s30k same "--xargs -j3: not spread" -k -j3 --xargs echo
IN=s30k same "-X {.} {/}" -k -j2 -X echo {.} {/}
IN=s30k same "-X --tag: the tag's {} counts" -k -j2 -X --tag echo
IN=s30k same "-X --tagstring x{}" -k -j2 -X --tagstring x{} echo
IN=s30k same "-m --tagstring {.}" -k -j2 -m --tagstring {.} echo x
IN=s30k same "-X -q x{}: thrice the length" -k -j2 -X -q echo x{}
IN=s30k same "-n 20000: cut at the line length too" -k -j3 -n 20000 echo
IN=s30k same "-X -n 5000" -k -j2 -X -n 5000 echo
IN=s30k same "-X --colsep: records of columns" -k -j4 -X --colsep 0 echo {1}x{2}
same "-X -j2" -k -j2 -X echo x{}y ::: a b c d e
same "-X -j3: 7 arguments, 3 a job" -k -j3 -X echo x{}y ::: a b c d e f g
same "-X -j1" -k -j1 -X echo x{}y ::: a b c d e
same "-m: {} all of them, {1} the first" -k -j2 -m echo {1}-{} ::: a b c d
same "-X: {1} once, {} a copy each" -k -j2 -X echo {1}-{} ::: a b c d
same "-X two sources: records spread" -k -j2 -X echo ::: a b ::: 1 2 3
same "--xargs" -k -j2 --xargs echo ::: a b c d
same "-X --dry-run: quoted" -k -X --dry-run echo ::: a 'b c' "d'e"
same "-X -q --dry-run" -k -X -q --dry-run echo a{}b ::: x 'y z'
same "-m -q --dry-run" -k -m -q --dry-run echo a{}b ::: x 'y z'
same "-X -N 0: spread, none put in" -k -X -N0 echo hi ::: a b c
same "-X -n 1" -k -j2 -X -n1 echo ::: a b c
same "-m -N 2" -k -j2 -m -N2 echo x{}y ::: a b c d e
same "-X no command" -k -X -j1 ::: 'echo a' 'echo b'
IN=s30 same "-X --pipe: ignored" -k --pipe --block 20 -X wc -l
IN=nul same "-X -0" -k -j2 -X -0 echo
head -c 70000 /dev/zero | tr '\0' a > big
same "-X: an input longer than a line: 255" -k -X echo :::: big
ok "-X: an input longer than a line: the message" "rc=255 1" \
	"$(run -X echo :::: big) $(grep -c 'command line too long (70005 >= 63664) at input 0: a' err)"
ok "-X -j2" "xay xby xcy${nl}xdy xey${nl}rc=0" "$(run -k -j2 -X echo x{}y ::: a b c d e)"
ok "-m -j2" "a-a b${nl}c-c d${nl}rc=0" "$(run -k -j2 -m echo {1}-{} ::: a b c d)"
ok "-X -j1: lines of 12460, 10609, 6931 numbers" "12460${nl}10609${nl}6931" \
	"$(timeout 60 "$R" -k -j1 -X echo < s30k | awk '{ print NF }')"
ok "-X: stdin read to its end before the last line spreads" "1 2 3 4 5${nl}6 7 8 9 10${nl}rc=0" \
	"$( (seq 5; sleep 0.2; seq 6 10) | run -k -j2 -X echo)"

# ---- -L, --max-lines: lines a job, one that ends in a blank goes on ----
printf 'a \nb\nc\n\n \nd\ne\n' > Lj
printf 'a \nb\nc \n' > Lj2
printf 'a\t\n\tb\r\nc \n\nd' > Lj3
for f in Lj Lj2 Lj3; do
	for o in -L1 -L2 -L3 --max-lines --max-lines=2 -l2 "-L2 -m" \
		"-L2 --xargs" "-L2 -X -j2" -L0 "-L2 -n3" "-L2 -N1" "-L2 -q"; do
		IN=$f same "$o x{}y < $f" -k $o echo x{}y
		IN=$f same "$o < $f" -k $o echo
	done
done
same "--max-lines 2: the number is its value" -k --max-lines 2 echo :::: Lj
same "-L1: ::: words joined too" -k -L1 echo ::: 'a ' b c
same "-L2 :::: file and ::: words: records" -k -L2 echo {1}-{2} ::: 'a ' b c ::: 1 2
same "-L1 -a" -k -L1 -a Lj echo
ok "-L2: in context" "xa by xcy${nl}xy x dy${nl}xey${nl}rc=0" "$(run -k -L2 echo x{}y < Lj)"
ok "--max-lines 2: not in context" "xa b cy${nl}x  dy${nl}xey${nl}rc=0" "$(run -k --max-lines 2 echo x{}y < Lj)"
ok "-L1: a line goes on with what comes later" "a b${nl}c${nl}rc=0" \
	"$( (printf 'a \n'; sleep 0.2; printf 'b\nc\n') | run -k -L1 echo)"
ok "-L with --pipe: not supported" "rc=255" "$(run -L2 --pipe cat < Lj)"
ok "-L bad" "rc=255" "$(run -L x echo ::: a)"

# ---- a command that starts with a replacement string: values unquoted ----
same "{} as the command" -k {} ::: 'echo a' "echo 'b c'"
same "{}x: part of the command" -k --dry-run {}x ::: 'echo a'
same "V={}: quoted" -k --dry-run V={} echo ::: 'a b'
same "{2} {1}" -k --dry-run {2} {1} ::: 'a b' ::: 'echo x'
same "-X {} as the command" -k -X -j1 --dry-run {} ::: 'echo a' 'b c'
ok "{} as the command" "a${nl}b c${nl}rc=0" "$(run -k {} ::: 'echo a' "echo 'b c'")"

# ---- GNU parallel's options left out: refused by name ----
ok "--recstart: not supported, 255" "rc=255 1" \
	"$(run --recstart x echo ::: a) $(grep -c "^conc-run: --recstart: not supported" err)"

# ---- --results DIR: a directory tree, compared with GNU parallel's ----
# tree DIR: every file under it, its name and what it holds.
tree() {
	(cd "$1" && find . -type f | LC_ALL=C sort | while IFS= read -r f; do
		printf '%s:' "$f"; od -An -c "$f" | tr -s ' \n' ' '; echo
	done)
}
# sametree NAME ARGS...: the same stdout, exit status and tree from
# --results DIR ARGS... (the tree made anew each time).
sametree() {
	name=$1
	shift
	have_par || return 0
	# The same name, res, in two directories: printed names match.
	rm -rf gp cr
	mkdir gp cr
	exp=$(cd gp && timeout 600 $PAR --will-cite --results res "$@" <"${IN:-/dev/null}" 2>/dev/null; echo "rc=$?")
	got=$(cd cr && timeout 600 "$R" --results res "$@" <"${IN:-/dev/null}" 2>"$T/err"; echo "rc=$?")
	ok "as parallel: --results: $name" "$exp" "$got"
	ok "as parallel: --results: $name: the tree" "$(tree gp/res)" "$(tree cr/res)"
}
sametree "one source" 'echo {}; echo e{} >&2' ::: a b
sametree "two sources: nested" echo ::: a b ::: c d
sametree "/ \\ tab space and '' in values" echo ::: a/b 'c d' 'e\f' "g${tab}h" '' x+y %
sametree "newlines in ::: values (GNU splits them)" echo ::: "g${nl}h" "a${nl}"
long=$(printf '%0300d' 0)
sametree "a value longer than a name: every value cut to the longest" -k -j1 echo ::: "$long" "$(echo "$long" | sed 's/00/a\//g')" b
printf 'a\nb\n' > ab
IN=$T/ab sametree "--pipe: DIR itself, the last chunk's" -j1 --pipe -N1 cat
sametree ". and .. as values" 'echo {}' ::: . ..
sametree "a failing job" 'echo {}; exit 3' ::: a
sametree "-k" -k echo ::: a b c
sametree "--tag" --tag echo ::: a b
sametree "-u" -u echo ::: a b
sametree "--dry-run" --dry-run echo ::: a b
sametree "--line-buffer: the stdout files' names" -k --lb 'echo {}' ::: a b
sametree "--line-buffer --tag" -k --lb --tag 'echo {}' ::: a b
sametree "--line-buffer --dry-run" -k --lb --dry-run 'echo {}' ::: a b
sametree "-n 2: every record" -n 2 echo ::: a b c
sametree "-N 2 with two sources" -N 2 echo ::: a b ::: c d
sametree "--colsep: a column a level" --colsep , echo ::: a,1 b,2
sametree ":::+ linked" echo ::: a b :::+ 1 2
sametree "-n 0" -n 0 echo x ::: a
sametree "-q" -q echo ::: 'a b'
run --results res --joblog rl 'printf abc; exit {}' ::: 0 2 >/dev/null
ok "--results: the joblog's Receive and Exitval" "3 0${nl}3 2" \
	"$(tail -n +2 rl | cut -f6,7 | tr '\t' ' ' | sort)"
mkdir -p ex/1/a && echo old > ex/1/a/stdout
ok "--results: an existing tree: the files made anew" "rc=0${nl}a" \
	"$(run --results ex echo ::: a)${nl}$(cat ex/1/a/stdout)"
: > notdir
ok "--results: a file in the way: mkdir's errno, 17, as GNU parallel" "rc=17 1" \
	"$(run --results notdir echo ::: a) $(grep -c '^conc-run: mkdir notdir: File exists$' err)"
ok "--results: a directory that cannot be made: ENOENT, 2" "rc=2 1" \
	"$(run --results /proc/conc-run-none echo ::: a) $(grep -c '^conc-run: mkdir /proc/conc-run-none: No such file or directory$' err)"
(umask 077; "$R" --results um echo ::: a >/dev/null 2>&1)
ok "--results: directories 0777 & ~umask" "drwx------ drwx------" \
	"$(ls -ld um um/1/a | cut -c1-10 | tr '\n' ' ' | sed 's/ $//')"
for r in x.csv x.TSV x.json 'x{}' 'r/{1}/'; do
	ok "--results $r: not supported, 255" "rc=255 1" \
		"$(run --results "$r" echo ::: a) $(grep -c '^conc-run: --results .*: not supported' err)"
done

# ---- -k with many jobs behind a slow one ----
# 10,000 jobs of 6 kB wait behind the first: the heap holds at most the
# 16 MiB budget of their 60 MB; the rest is spilled. Measured as peak
# RSS against the same jobs printing one byte.
if [ -x /usr/bin/time ]; then
	peak() {
		rm -f slow.go
		seq 10000 | ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0" \
			/usr/bin/time -f %M timeout 300 "$R" -k -j2 \
			"if [ {} = 1 ]; then i=0; while [ ! -e slow.go ] && [ \$i -lt 600 ]; do sleep 0.1; i=\$((i + 1)); done; fi; [ {} = 10000 ] && touch slow.go; head -c $1 /dev/zero" \
			2>&1 >/dev/null | tail -1
	}
	small=$(peak 1) large=$(peak 6000)
	ok "-k: 10,000 jobs (60 MB) behind a slow one stay within the bound" "yes" \
		"$([ $((large - small)) -lt 32000 ] && echo yes || echo "no: $small kB, $large kB")"
else
	echo "skip: -k memory bound (no /usr/bin/time)"
	skip=$((skip + 1))
fi

# ---- --bar, --progress, --eta ----
ok "--bar --progress --eta off a terminal: stderr quiet" "" \
	"$(timeout 60 "$R" --bar --progress --eta 'exit {}' ::: 0 1 2>&1 >/dev/null)"
ok "--bar off a terminal: stdout has only the output" "a${nl}b" \
	"$(timeout 60 "$R" -k --bar echo ::: a b 2>/dev/null)"
if command -v script >/dev/null 2>&1; then
	tty_run() { timeout 60 script -qec "$1" /dev/null 2>&1 | tr '\r' '\n'; }
	ok "--progress on a terminal: done/running/failed" "yes" \
		"$(tty_run "'$R' --progress 'exit {}' ::: 0 1 2" | grep -q 'done 3/3, running 0, failed 2' && echo yes)"
	ok "--bar on a terminal" "yes" \
		"$(tty_run "'$R' --bar true ::: 1 2 3 4" | grep -q '100% 4/4' && echo yes)"
	ok "--eta on a terminal" "yes" "$(tty_run "'$R' --eta true ::: 1 2" | grep -q 'ETA' && echo yes)"
	ok "--bar on a terminal, stdout to a file: the file has only the output" "1${nl}2" \
		"$(tty_run "'$R' -k --bar echo ::: 1 2 > '$T/bo'" >/dev/null; cat bo)"
else
	echo "skip: --bar on a terminal (no script(1))"
	skip=$((skip + 1))
fi

# ---- -S ':' is this machine ----
same "-S :" -k -S : echo ::: a b
same "-S 1/: one at a time" -k -S 1/: 'echo {%}' ::: a b c
same "--sshlogin : -q" -k --sshlogin : -q printf '[%s]\n' ::: 'a b'
same "-S : quoting" -k -S : "printf '[%s]\\n'" ::: 'a b' "c'd"
IN=s30 same "-S : --pipe" -k -S : --pipe --block 20 wc -l
run -S : --joblog sj echo ::: a >/dev/null
ok "-S : the Host column" ":" "$(awk -F'\t' 'NR == 2 { print $2 }' sj)"
printf '# a comment\n\n:\n' > slf
ok "--sshloginfile with : and a comment" "a${nl}rc=0" "$(run --slf slf echo ::: a)"
ok "--sshloginfile missing: 255" "rc=255" "$(run --slf /no/such/file echo ::: a)"

# ---- other hosts through ssh: an sshd of our own on 127.0.0.1 ----
if sshd_start; then
	trap '[ -f "$T/sshd.pid" ] && kill "$(cat "$T/sshd.pid")"; rm -rf "$T"' EXIT
	ok "ssh: values whole there" "[a b]${nl}[c'd]${nl}[e\$f]${nl}[\`g\`]${nl}[*]${nl}[h\"i]${nl}[x\\y]${nl}rc=0" \
		"$(run -k --ssh "$SSH" -S 127.0.0.1 "printf '[%s]\\n'" ::: 'a b' "c'd" 'e$f' '`g`' '*' 'h"i' 'x\y')"
	same "ssh: values whole there" -k --ssh "$SSH" -S 127.0.0.1 "printf '[%s]\\n'" ::: 'a b' "c'd" 'e$f' '`g`' '*' 'h"i' 'x\y'
	ok "ssh: a value with a newline (-0)" "[a${nl}b]${nl}[c d]${nl}[]${nl}rc=0" \
		"$(run -0 -k --ssh "$SSH" -S 127.0.0.1 "printf '[%s]\\n'" < nul)"
	same "ssh: -q" -k --ssh "$SSH" -S 127.0.0.1 -q printf '[%s]\n' ::: 'a b' "c'd" 'e$f'
	same "ssh: exit statuses" --ssh "$SSH" -S 127.0.0.1 'exit {}' ::: 0 3 4
	same "ssh: stdout and stderr" -k --ssh "$SSH" -S 127.0.0.1 'echo o{}; echo e{} >&2' ::: a
	ok "ssh: stderr stays stderr" "ea" "$(timeout 60 "$R" --ssh "$SSH" -S 127.0.0.1 'echo o{}; echo e{} >&2' ::: a 2>&1 >/dev/null)"
	same "ssh: {#} {%} PARALLEL_SEQ PARALLEL_JOBSLOT there" -k --ssh "$SSH" -S 127.0.0.1 \
		'echo {#} {%} $PARALLEL_SEQ $PARALLEL_JOBSLOT' ::: a b
	ok "ssh: PARALLEL_SEQ there" "1${nl}2${nl}rc=0" "$(run -k --ssh "$SSH" -S 127.0.0.1 ': {}; echo $PARALLEL_SEQ' ::: a b)"
	same "ssh: --tag" -k --ssh "$SSH" -S 127.0.0.1 --tag echo ::: 'a b'
	IN=s30 same "ssh: --pipe" -k --ssh "$SSH" -S 127.0.0.1 --pipe --block 20 wc -l
	# 2/host: each job appends "s" as it starts and "e" as it ends to one
	# log (O_APPEND: the log's order is the order of the writes), which
	# counts the jobs running at once. Jobs 1 and 2 wait for a third
	# start (up to 2 s): under a limit that holds none comes, under one
	# that fails the third is seen while they run.
	rm -f "$T/cc.log"
	ok "ssh: 2/host: slots 1 and 2 only" "rc=0" \
		"$(run -S "2/$SSH 127.0.0.1" 'echo s >> '"$T"'/cc.log; i=0; if [ {#} -le 2 ]; then while [ $(grep -c s '"$T"'/cc.log) -lt 3 ] && [ $i -lt 40 ]; do sleep 0.05; i=$((i + 1)); done; fi; [ {%} -le 2 ] || echo slot {%}; echo e >> '"$T"'/cc.log' ::: 1 2 3 4 5 6)"
	ok "ssh: 2/host: at most two there at once" "6 2" \
		"$(awk '$0 == "s" { n++; s++; if (n > m) m = n } $0 == "e" { n-- } END { print s, (m <= 2 ? 2 : m) }' "$T/cc.log")"
	ok "ssh: a login that fails: the job fails with 255" "rc=1" \
		"$(run --joblog sf -S 'ssh -o BatchMode=yes -o ConnectTimeout=5 -p 1 127.0.0.1' echo ::: a)"
	ok "ssh: ... in the log" "255 0" "$(awk -F'\t' 'NR == 2 { print $7, $8 }' sf)"
	rel=conc-probe-ssh-$$
	mkdir -p "$rel" && echo hello > "$rel/a b.txt" && echo "x'y\$" > "$rel/c'd.txt"
	ok "ssh: --trc with spaces and quotes in the names" "done $rel/a b.txt${nl}done $rel/c'd.txt${nl}rc=0" \
		"$(run -k --ssh "$SSH" -S 127.0.0.1 --trc '{.}.out' 'wc -c < {} > {.}.out; echo done {}' ::: "$rel/a b.txt" "$rel/c'd.txt")"
	ok "ssh: --return brought them back" "6 5" "$(cat "$rel/a b.out" "$rel/c'd.out" | tr -d ' ' | tr '\n' ' ' | sed 's/ $//')"
	ok "ssh: --cleanup left nothing there" "gone" \
		"$(timeout 10 $SSH 127.0.0.1 "test -e $rel && echo left || echo gone" </dev/null)"
	ok "ssh: --transferfile from /./: the path after it" "hello${nl}rc=0" \
		"$(run --ssh "$SSH" -S 127.0.0.1 --tf "$T/./$rel/a b.txt" --cleanup ": {}; cat '$rel/a b.txt'" ::: 1)"
	ok "ssh: ... cleaned up" "gone" "$(timeout 10 $SSH 127.0.0.1 "test -e $rel && echo left || echo gone" </dev/null)"
	run -k -S "1/$SSH 127.0.0.1,1/:" --joblog sl2 'echo {}' ::: a b c d > spread.out
	ok "ssh: host and : together: all ran, in order" "a${nl}b${nl}c${nl}d${nl}rc=0" "$(cat spread.out)"
	ok "ssh: the log's Host column names each login" "2" "$(tail -n +2 sl2 | cut -f2 | sort -u | wc -l | tr -d ' ')"
	printf '# hosts\n\n%s\n' "2/$SSH 127.0.0.1" > slf2
	ok "ssh: --sshloginfile" "a${nl}b${nl}rc=0" "$(run -k --slf slf2 echo ::: a b)"
fi

echo "test_conc_run_probe: $pass passed, $fail failed, $skip skipped"
[ "$fail" = 0 ]
