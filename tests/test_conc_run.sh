#!/bin/sh
# test_conc_run.sh — drives the real bin/conc-run. The expected outputs
# are GNU parallel's (20221122) on the same command lines, unless said.
# Every run is bounded by timeout(1); no test asserts a timing.
R=${CONC_RUN:-$(pwd)/bin/conc-run}
T=$(mktemp -d /tmp/conc-run-test.XXXXXX) || exit 1
trap 'rm -rf "$T"' EXIT
cd "$T" || exit 1
pass=0 fail=0

# ok NAME EXPECTED ACTUAL
ok() {
	if [ "$2" = "$3" ]; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		printf 'FAIL: %s\n--- expected\n%s\n--- got\n%s\n' "$1" "$2" "$3"
	fi
}

# run ARGS...: stdout (and "rc=N" on its own last line)
run() {
	out=$(timeout 30 "$R" "$@" 2>"$T/err"; echo "rc=$?")
	printf '%s' "$out"
}

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
ok ":::: missing file: 255" "rc=255" "$(run echo :::: nosuchfile)"
grep -q "^conc-run: cannot open nosuchfile: " err; ok ":::: missing file: message" 0 $?
ok "-n 2" "b-a${nl}-c${nl}rc=0" "$(run -k -n 2 echo {2}-{1} ::: a b c)"
ok "-n 2 appended" "a b${nl}c d${nl}rc=0" "$(run -k -n2 echo ::: a b c d)"
ok "--colsep" "y x${nl}q p${nl}rc=0" "$(run -k --colsep , echo {2} {1} ::: x,y p,q)"
ok "--colsep appended" "x y${nl}rc=0" "$(run -k --colsep , echo ::: x,y)"
ok "--colsep tab regex" "b${nl}rc=0" "$(printf 'a\tb\n' | run --colsep '\t+' echo {2})"

# ---- replacement strings ----
ok "{//}" "a/b${nl}/${nl}.${nl}a${nl}.${nl}rc=0" "$(run -k echo {//} ::: a/b/c /x x a/b/ '')"
ok "{/} {.} {/.}" "d a/b.c/d d${nl}a.tar.gz a.tar a.tar${nl}x.y /x x${nl}.bashrc  ${nl}rc=0" \
	"$(run -k echo {/} {.} {/.} ::: a/b.c/d a.tar.gz /x.y .bashrc)"
ok "{#} job number" "1 a${nl}2 b${nl}rc=0" "$(run -k echo {#} {} ::: a b)"
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
ok "--tag" "a	a${nl}a	ea${nl}b c	b c${nl}b c	eb c${nl}rc=0" \
	"$(timeout 30 "$R" -k --tag 'echo {}; echo e{} >&2' ::: a 'b c' 2>&1; echo "rc=$?")"
ok "--line-buffer prints lines as they come" "a1${nl}b1${nl}a2${nl}rc=0" \
	"$(run -j2 --line-buffer 'if [ {} = a ]; then echo a1; sleep 0.6; echo a2; else sleep 0.3; echo b1; fi' ::: a b)"
ok "-u passes output through" "x${nl}rc=0" "$(run -u echo ::: x)"
ok "a big output stays whole" "200000" "$(timeout 30 "$R" -j2 seq ::: 100000 100000 | wc -l | tr -d ' ')"
ok "-k with big outputs in order" "1${nl}100000${nl}1${nl}100000" \
	"$(timeout 30 "$R" -k -j2 'sleep 0.{}; seq 100000' ::: 3 1 | sed -n '1p;100000p;100001p;200000p')"

# ---- exit status ----
ok "exit: failed count" "rc=3" "$(run 'exit {}' ::: 0 1 2 3)"
ok "exit: 101 for more than 100" "rc=101" "$(seq 102 | run -j4 false)"
ok "exit: a killed job fails" "rc=1" "$(run 'kill -9 $$' ::: 1)"
ok "exit: unknown option 255" "rc=255" "$(run --no-such-option true)"
grep -q "^conc-run: unknown option: --no-such-option" err; ok "unknown option message" 0 $?
ok "--help" "0" "$("$R" --help >/dev/null; echo $?)"
ok "--version" "0" "$("$R" --version | grep -q '^conc-run '; echo $?)"

echo "test_conc_run: $pass passed, $fail failed"
[ "$fail" = 0 ]
