#!/bin/sh
# test_conc_run_gnu.sh — differences with GNU parallel 20221122 found in
# session 13 (by /tmp/runprobe's side-by-side runs and
# tests/diff_conc_run.py), each pinned with its expected value written
# out and compared with parallel(1) itself when it is installed. Every
# run is bounded by timeout(1) (GNU parallel's by 600 s: it is slow under
# load); no test asserts a timing.
#   CONC_RUN=path (default: ./bin/conc-run)
TMPNAME=conc-run-gnu
. "$(dirname "$0")/sh_conc_run.sh"

# ---- -n 0: each value of a record is '' put in unquoted ----
# So {//} of one is '.', as GNU parallel's dirname; conc-run gave
# nothing. With -q, a word the values leave empty is no word (the shell
# drops it in GNU's line); conc-run passed ''.
ok "-n 0: {//} is ." "[. .] [.] [] [.]${nl}rc=0" \
	"$(run -k -n0 echo '[{//}]' '[{1//}]' '[{3//}]' '[{-1//}]' ::: a ::: b)"
ok "-n 0: one source, {//} {/} {.} {/.}" "[.] [] [] []${nl}[.] [] [] []${nl}rc=0" \
	"$(run -k -n0 echo '[{//}]' '[{/}]' '[{.}]' '[{/.}]' ::: a/b.c d)"
ok "-N 0: a copy per value" "[.] [.] [.] []${nl}rc=0" \
	"$(run -k -N0 echo '[{//}]' '[{1//}]' '[{3//}]' ::: a ::: b)"
ok "-n 0 -q: {} alone is no word" "0${nl}0${nl}rc=0" \
	"$(run -k -n0 -q sh -c 'echo $#' sh '{}' ::: a b)"
ok "-n 0 -q, two sources: {} x is x" "1:x${nl}rc=0" \
	"$(run -k -n0 -q sh -c 'echo "$#:$*"' sh '{}' x ::: a ::: b)"
ok "-n 0 -q: x{//}y, three sources" "[x.]${nl}[.]${nl}[.y]${nl}rc=0" \
	"$(run -k -n0 -q printf '[%s]\n' 'x{//}y' ::: a ::: b ::: c)"
ok "-N 0 -q: {} x is x" "1:x${nl}rc=0" \
	"$(run -k -N0 -q sh -c 'echo "$#:$*"' sh '{}' x ::: a ::: b)"
same "-n 0 {//}" -k -n0 echo '[{//}]' ::: a
same "-n 0 modifiers, two sources" -k -n0 echo '[{//}]' '[{/}]' '[{.}]' '[{/.}]' '[{1//}]' '[{2//}]' '[{3//}]' '[{-1//}]' ::: a ::: b/c.d
same "-n 0 --dry-run modifiers" -k -n0 --dry-run echo '{//}' '{-2//}' '{-3/}' '{-3//}' ::: a ::: b
same "-N 0 modifiers" -k -N0 echo '[{//}]' '[{1//}]' '[{3//}]' '{//}x' ::: a ::: b
same "-n 0 --tagstring {//}" -k -n0 --tagstring '<{//}>' echo x ::: a ::: b
same "-n 0 -q {}" -k -n0 -q sh -c 'echo "$#:$*"' sh '{}' ::: a b
same "-n 0 -q {} x, two sources" -k -n0 -q sh -c 'echo "$#:$*"' sh '{}' x ::: a ::: b
same "-n 0 -q {//} x{}" -k -n0 -q sh -c 'echo "$#:$*"' sh '{//}' 'x{}' ::: a ::: b
same "-n 0 -q x{//}y x{}y" -k -n0 -q printf '[%s]\n' 'x{//}y' 'x{}y' ::: a ::: b ::: c
same "-n 0 -q --dry-run" -k -n0 -q --dry-run echo '[{//}]' '[{1//}]' '[{3//}]' ::: a ::: b
same "-N 0 -q {} x" -k -N0 -q sh -c 'echo "$#:$*"' sh '{}' x ::: a ::: b

# ---- a reader that goes away: conc-run dies of the SIGPIPE ----
# As GNU parallel (141 in the shell, what pipefail scripts expect of a
# filter), where conc-run ended with 255. Job 2 writes more than a pipe
# holds, so its write fails whenever head(1) goes: no timing.
pipe_rc() {
	rm -f rc
	{ timeout 600 "$@" -k -j1 'if [ {} = 1 ]; then echo 1; else head -c 2000000 /dev/zero; fi' ::: 1 2 3
	  echo "rc=$?" > rc; } | head -1 >/dev/null
	cat rc
}
ok "a reader gone: SIGPIPE (141)" "rc=141" "$(pipe_rc "$R")"
ok "a reader gone, SIGPIPE ignored at our start: 141 still" "rc=141" \
	"$(trap '' PIPE; pipe_rc "$R")"
ok "a reader gone, --dry-run: 141" "rc=141" \
	"$({ timeout 60 "$R" --dry-run echo ::: $(seq 30000); echo "rc=$?" > rc2; } | head -1 >/dev/null; cat rc2)"
{ timeout 60 "$R" --dry-run echo ::: $(seq 30000) 2>err3; } | head -1 >/dev/null
ok "a reader gone: nothing on stderr" "" "$(cat err3)"
if [ -n "$PAR" ]; then
	ok "a reader gone: as parallel" "$(pipe_rc $PAR --will-cite)" "$(pipe_rc "$R")"
else
	skip=$((skip + 1))
fi

# ---- -t, --verbose: each command line on stderr as it starts ----
# GNU parallel's --verbose is its -t (as xargs -t), not its -v (stdout,
# with the job's output); conc-run took --verbose for -v and refused -t.
ok "--verbose: stdout the output alone" "a${nl}b c${nl}rc=0" \
	"$(run -k -j1 --verbose echo ::: a 'b c')"
ok "--verbose: stderr the lines" "echo a${nl}echo 'b c'" "$(cat "$T/err")"
ok "-t --tag: stderr untagged" "echo a" "$(run -k -t --tag echo ::: a >/dev/null; cat "$T/err")"
ok "-t --dry-run: both" "echo a${nl}rc=0|echo a" \
	"$(run -t --dry-run echo ::: a)|$(cat "$T/err")"
ok "-t --retries 2: each try" "echo x; false 1${nl}echo x; false 1" \
	"$(run -t --retries 2 'echo x; false' ::: 1 >/dev/null; cat "$T/err")"
ok "-t -v: both" "echo a${nl}a${nl}rc=0|echo a" "$(run -t -v echo ::: a)|$(cat "$T/err")"
ok "-t -u: the line before the job's own stderr" "echo e >&2 a${nl}e a" \
	"$(run -t -u 'echo e >&2' ::: a >/dev/null; cat "$T/err")"

sameerr "--verbose" -k -j1 --verbose echo ::: a 'b c' "d'e"
sameerr "-t --tag" -k -j1 -t --tag echo ::: a b
sameerr "-t --dry-run" -k -t --dry-run echo ::: a b
sameerr "-t -q" -k -j1 -t -q printf '[%s]\n' ::: 'a b' c
sameerr "-t -v" -k -j1 -t -v echo ::: a b
sameerr "-t --retries 2" -k -j1 -t --retries 2 'echo {}; false' ::: a
sameerr "-t -u" -k -j1 -t -u 'echo e{} >&2' ::: a b
sameerr "-t --results" -k -j1 -t --results res echo ::: a b
sameerr "-t -n 2" -k -j1 -t -n 2 echo ::: a b c

# ---- --halt: GNU parallel's other forms ----
# conc-run refused a limit of 0, -1, -2, P% alone and a share over 100%,
# and took 1.5 (GNU: an error); a share never reached gave the failed
# share of the jobs done, GNU's is of the tries started (--retries).
ok "--halt now,fail=0: the first failure, exit 0" "0${nl}1${nl}rc=0" \
	"$(run -k -j1 --halt now,fail=0 'echo {}; exit {}' ::: 0 1 0 2)"
ok "--halt soon,done=0%: the first job" "1${nl}rc=0" \
	"$(run -k -j1 --halt soon,done=0% 'echo {}; exit {}' ::: 1 0 2)"
ok "--halt -2: now,success=1" "1${nl}0${nl}rc=0" \
	"$(run -k -j1 --halt -2 'echo {}; exit {}' ::: 1 0 2)"
ok "--halt 50%: soon,fail=50%" "0${nl}1${nl}2${nl}rc=50" \
	"$(run -k -j1 --halt 50% 'echo {}; exit {}' ::: 0 1 2 0)"
ok "--halt now,fail=1.5: 255" "rc=255" "$(run --halt now,fail=1.5 true ::: 1)"
ok "--halt now,fail=: 255" "rc=255" "$(run --halt now,fail= true ::: 1)"
ok "--halt 50% --retries 2 never reached: of the tries" "rc=25" \
	"$(run -j1 --halt now,fail=50% --retries 2 'exit $(({} % 2))' ::: 2 2 4 2 5 1)"
for h in 0 1 2 -1 -2 5% 50% never now,fail=0 soon,fail=0 now,fail=0% \
	soon,done=0 now,success=0 now,done=1 now,done=2 soon,done=40% \
	now,success=2 now,success=50% soon,success=100% now,fail=20% \
	now,fail=60% now,fail=101% now,fail=1.5 now, now,fail= now,fail=x \
	now,fail=-1 soon,fail=2%; do
	same "--halt $h" -k -j1 --halt "$h" 'echo {}; exit {}' ::: 0 1 0 2 0
done
same "--halt now,fail=50% --retries 2" -k -j1 --halt now,fail=50% --retries 2 'echo o{}; exit $(({} % 2))' ::: 2 2 4 2 5 1
same "--halt now,fail=30% --retries 2" -k -j1 --halt now,fail=30% --retries 2 'echo o{}; exit $(({} % 2))' ::: 3 2 3 3 4 1
same "--halt soon,success=50% --retries 3" -k -j1 --halt soon,success=50% --retries 3 'echo o{}; exit $(({} % 2))' ::: 3 3 4 1

# ---- --nice N: the jobs' niceness (conc-run refused it) ----
# Relative to ours (the tests may run niced), upwards (root may go down,
# others may not: not tested).
base=$(nice)
if [ "$base" -le 15 ]; then
	up=$((base + 3))
	ok "--nice: each job, and its children" "$up $up${nl}$up $up${nl}rc=0" \
		"$(run -k -j2 --nice $up 'echo $(nice) $(sh -c nice); :' ::: 1 2)"
	ok "--nice +N: the same" "$up${nl}rc=0" "$(run --nice +$up 'nice; :' ::: 1)"
	ok "--nice 0: ours" "$base${nl}rc=0" "$(run --nice 0 'nice; :' ::: 1)"
	ok "--nice 30: 19" "19${nl}rc=0" "$(run --nice 30 'nice; :' ::: 1)"
	same "--nice N" -k -j2 --nice $up 'echo $(nice) $(sh -c nice); :' ::: 1 2
	same "--nice +N" --nice +$up 'nice; :' ::: 1
	same "--nice 0" --nice 0 'nice; :' ::: 1
	same "--nice 30" --nice 30 'nice; :' ::: 1
else
	skip=$((skip + 8))
fi
ok "--nice x: 255" "rc=255" "$(run --nice x true ::: 1)"
ok "--nice 1.5: 255" "rc=255" "$(run --nice 1.5 true ::: 1)"

# ---- -s, --max-chars N: GNU parallel's line limit, lowered ----
# conc-run refused it. The lines are GNU's estimate of their length, as
# -X's without it.
ok "-s 20 -m" "a b c d e f g${nl}h i j${nl}k l${nl}rc=0" \
	"$(run -k -j2 -s 20 -m echo ::: a b c d e f g h i j k l)"
ok "-s 12 --xargs" "aa bb${nl}cc dd${nl}ee ff${nl}rc=0" \
	"$(run -k -j1 -s 12 --xargs echo ::: aa bb cc dd ee ff)"
ok "-s 8 alone: a line too long, 255" "rc=255" "$(run -k -j1 -s 8 echo ::: aa bbb cccc | tail -1)"
grep -q "^conc-run: command line too long (8 >= 8) at input 1: bbb" err
ok "-s 8 alone: the message" 0 $?
ok "-s 0: GNU's own limit" "a b${nl}rc=0" "$(run -k -j1 -s 0 -m echo ::: a b)"
ok "-s over GNU's limit: its own, a warning" "a b${nl}rc=0" "$(run -k -j1 -s 1G -m echo ::: a b)"
grep -q "^conc-run: Warning: Value for option -s should be < " err
ok "-s over GNU's limit: the warning" 0 $?
ok "-s x: 255" "rc=255" "$(run -s x -m echo ::: a)"
same "-s 20 -m" -k -j2 -s 20 -m echo ::: a b c d e f g h i j k l
same "-s 20 -X" -k -j2 -s 20 -X echo 'x{}y' ::: a b c d e f g h i j k l
same "-s 20 alone" -k -j2 -s 20 echo ::: a b c
# (Not -s with an input too long alone: GNU parallel may or may not print
# the jobs before it, and conc-run does not.)
same "-s 1k -m" -k -j2 -s 1k -m echo ::: a b c
same "--max-chars 30 -n 3" -k -j2 --max-chars 30 -n 3 echo ::: a b c d e f g h i j k l m n o p
same "-s 12 -m" -k -j1 -s 12 -m echo ::: aa bb cc dd ee ff
same "-s 12 --xargs" -k -j1 -s 12 --xargs echo ::: aa bb cc dd ee ff
same "-s 25 -X {#} {}" -k -j1 -s 25 -X echo '{#}' '{}' ::: aa bb cc dd ee ff
same "-s 0 -m" -k -j2 -s 0 -m echo ::: a b
same "-s 5 -m" -k -j2 -s 5 -m echo ::: a b
same "-s 1G -m" -k -j2 -s 1G -m echo ::: a b

# ---- --er STR, --extensionreplace STR: STR is {.} ----
# As -I renames {}, GNU parallel 20221122 renames {.}: {.}, {N.}, {-N.}
# and {0.} are then text, the others stay. conc-run refused the option.
ok "--er @@" "a${nl}c/d${nl}f${nl}rc=0" "$(run -k -j1 --er @@ echo @@ ::: a.b c/d.e f)"
ok "--er @@: {.} left, {} stays" "a {.} a.b${nl}rc=0" "$(run --er @@ echo @@ {.} {} ::: a.b)"
ok "--er X: twice in a word, X. not {.}" "a. aaa${nl}rc=0" "$(run --er X echo X. XaX ::: a.b)"
ok "--er @@ -I XX" "a.b a {} {.}${nl}rc=0" "$(run --er @@ -I XX echo XX @@ {} {.} ::: a.b)"
ok "--er '': refused" "rc=255" "$(run --er '' echo ::: a)"
same "--er @@" -k --er @@ echo @@ ::: a.b c/d.e f
same "--extensionreplace" -k --extensionreplace @@ echo @@ {} {.} ::: a.b
same "--er positional" -k --er @@ echo {1.} {1} @@ {/.} {0.} {-1.} ::: a.b ::: c.d
same "--er and -I" -k --er @@ -I XX echo XX @@ {} {.} ::: a.b
same "--er {}" -k --er {} echo {} ::: a.b
same "--er {.}" -k --er {.} echo {.} {} ::: a.b
same "--er X" -k --er X echo X. XaX ::: a.b
same "--er -n 2" -k --er @@ -n 2 echo @@ ::: a.b c.d e.f
same "--er -X" -k --er @@ -X echo x@@y ::: a.b c.d e.f
same "--er -m" -k --er @@ -m echo x@@y ::: a.b c.d e.f
same "--er -q" -k --er @@ -q echo '@@ x' ::: a.b 'c d.e'
same "--er --tagstring" -k --er @@ --tagstring @@-t echo @@ ::: a.b
same "--er --colsep" -k --er @@ --colsep , echo @@ {1} {2.} ::: a.b,c.d
same "--er --dry-run" -k --er @@ --dry-run echo @@ ::: "a'b.c"
same "--er twice: the last" -k --er @@ --er ZZ echo @@ ZZ ::: a.b
same "--er none in the command" -k --er @@ echo ::: a.b
same "--er as the command" -k --er @@ @@ ::: echo.x
same "--er and -I the same" -k --er @@ -I @@ echo @@ ::: a.b
same "-I and --er the same" -k -I @@ --er @@ echo @@ ::: a.b
same "--er inside -I's" -k --er @ -I @@ echo @@ @ ::: a.b
same "-I inside --er's" -k --er @@ -I @ echo @@ @ ::: a.b
same "--er {/}" -k --er {/} echo {/} {} ::: a/b.c

# ---- a line too long while jobs run: they are killed, 255 ----
# GNU parallel's wait_and_exit(255): the jobs running are killed (TERM to
# their process groups), their output dropped, and with -k nothing after
# the first of them is printed either. conc-run exited at once, its jobs
# left running (and waited for at its exit, their output lost). Job s
# never ends by itself; f ends, which frees the slot that reads the long
# input: s runs then, whatever the timing. (A conc-run that leaves s
# running ignores timeout's TERM: runk KILLs it.)
long=ccccccccccccccccccccccccccccccccccccccc
tl='if [ {} = s ]; then echo $$ > pid; echo out; exec sleep 300; fi; echo {}'
runk() { out=$(timeout -k 5 60 "$R" "$@" 2>"$T/err"; echo "rc=$?"); printf '%s' "$out"; }
ok "too long, a job running: killed, the others printed" "f${nl}rc=255" \
	"$(runk -s 100 -j2 "$tl" ::: s f $long x)"
ok "too long, a job running: the message" \
	"conc-run: command line too long (146 >= 100) at input 2: $long" "$(cat err)"
# gone: job s is no more (else it is killed, and said).
gone() {
	[ -s pid ] && kill -0 "$(cat pid)" 2>/dev/null &&
		kill "$(cat pid)" && echo "it ran on"
	rm -f pid
}
ok "too long, a job running: it is gone" "" "$(gone)"
ok "too long, a job running, -k: nothing after it" "rc=255" \
	"$(runk -k -s 100 -j2 "$tl" ::: s f $long x)"
ok "too long, a job running, -k: it is gone" "" "$(gone)"
ok "too long, -k: the one before printed" "a${nl}rc=255" \
	"$(runk -k -s 100 -j2 "$tl" ::: a s f $long x)"
ok "too long, -k: it is gone" "" "$(gone)"
ok "too long, --dry-run: the lines before" "echo a${nl}rc=255" \
	"$(runk -s 20 --dry-run echo ::: a $long b)"
ok "too long, --halt soon,fail=1: the killed job is no failure" \
	"f${nl}rc=255|conc-run: command line too long (146 >= 100) at input 2: $long" \
	"$(runk --halt soon,fail=1 -s 100 -j2 "$tl" ::: s f $long x)|$(cat err)"
ok "too long, --halt: it is gone" "" "$(gone)"
same "too long, a job running" -s 100 -j2 "$tl" ::: s $long x
same "too long, a job running, -k" -k -s 100 -j2 "$tl" ::: s f $long x
# (Not --dry-run against parallel: it prints the lines before the long
# input or not, as its reading runs ahead or not.)

# ---- --arg-sep STR, --arg-file-sep STR: other words for ::: and :::: ----
# conc-run refused them. As GNU parallel: STR and STR+ start sources, the
# old word is then a plain word; the file one is looked at first.
printf 'a\nb\n' > ab
ok "--arg-sep ,,: ::: a word" "::: a${nl}::: b${nl}rc=0" "$(run -k --arg-sep ,, echo ::: ,, a b)"
ok "--arg-sep ,,+: linked" "a c${nl}b d${nl}rc=0" "$(run -k --arg-sep ,, echo ,, a b ,,+ c d)"
ok "--arg-file-sep //" "a x${nl}b x${nl}rc=0" "$(run -k --arg-file-sep // echo // ab ::: x)"
ok "--arg-sep +: ++ is it linked" "a c${nl}rc=0" "$(run -k --arg-sep + echo + a b ++ c)"
same "--arg-sep ,," -k --arg-sep ,, echo ,, a b
same "--arg-sep ,, and :::" -k --arg-sep ,, echo ::: ,, a b
same "--argsep, twice" -k --argsep ,, echo ,, a b ,, c
same "--arg-sep ,,+" -k --arg-sep ,, echo ,, a b ,,+ c d
same "--arg-sep and ::::" -k --arg-sep ,, echo ,, a b :::: ab
same "--arg-sep and ::::+" -k --arg-sep ,, echo ,, a b ::::+ ab
same "--arg-file-sep //" -k --arg-file-sep // echo // ab
same "--arg-file-sep and :::" -k --arg-file-sep // echo // ab ::: x
same "--arg-file-sep and ::::" -k --arg-file-sep // echo :::: ab // ab
same "--argfilesep //+" -k --argfilesep // echo ::: x //+ ab
same "--arg-sep +" -k --arg-sep + echo + a b
same "--arg-sep + and ++" -k --arg-sep + echo + a b ++ c
same "--arg-sep ::::" -k --arg-sep :::: echo :::: a b
same "--arg-file-sep :::" -k --arg-file-sep ::: echo ::: ab
same "both the same: files" -k --arg-sep X --arg-file-sep X echo X ab
same "--arg-sep twice: the last" -k --arg-sep ,, --arg-sep .. echo .. a ,, b
same "--arg-sep ''" -k --arg-sep '' echo '' a
same "--arg-sep and -a" -k --arg-sep ,, -a ab echo ,, x
same "--arg-sep, no words" -k --arg-sep ,, echo ,,
same "--arg-sep --dry-run" -k --arg-sep ,, --dry-run echo ,, 'a b'
same "--arg-sep -X" -k --arg-sep ,, -X echo ,, a b c

echo "test_conc_run_gnu: $pass passed, $fail failed, $skip skipped"
[ "$fail" = 0 ]
