#!/bin/sh
# test_conc_run_diff.sh — what the differential harness
# (tests/diff_conc_run.py: thousands of command lines run through GNU
# parallel and bin/conc-run) found conc-run doing otherwise, each pinned
# with its expected value written out, and compared with parallel(1)
# itself when it is installed. Every run is bounded by timeout(1); no
# test asserts a timing.
#   CONC_RUN=path (default: ./bin/conc-run)
TMPNAME=conc-run-diff
. "$(dirname "$0")/sh_conc_run.sh"

# ---- -q: {} of several arguments is that many words ----
# GNU parallel quotes each argument apart, so with -q the text before {}
# goes with the first and the text after with the last; conc-run made one
# word of them all, apart by spaces.
ok "-q -n2: x{}y is two words" "[xa]${nl}[by]${nl}rc=0" \
	"$(run -k -j1 -q -n2 printf '[%s]\n' 'x{}y' ::: a b)"
ok "-q, two sources: {} is two words" "[a]${nl}[b c]${nl}rc=0" \
	"$(run -k -j1 -q printf '[%s]\n' '{}' ::: a ::: 'b c')"
ok "-q --colsep: {} a word a column" "[a]${nl}[b]${nl}rc=0" \
	"$(run -k -j1 -q --colsep , printf '[%s]\n' '{}' ::: a,b)"
ok "-q -m: one word per argument" "[xa]${nl}[by]${nl}rc=0" \
	"$(run -k -j1 -q -m printf '[%s]\n' 'x{}y' ::: a b)"
ok "-q -n2: empty arguments are words too" "[a]${nl}[]${nl}[]${nl}[]${nl}rc=0" \
	"$(run -k -j1 -q -n2 printf '[%s]\n' '{}' ::: a '' '' '')"
ok "-q -n2: two {} in one word" "[a]${nl}[ba]${nl}[b]${nl}rc=0" \
	"$(run -k -j1 -q -n2 printf '[%s]\n' '{}{}' ::: a b)"
ok "-q -n2 --dry-run: each word quoted" "printf '[%s]\\n' 'p qa' 'b cr s'${nl}rc=0" \
	"$(run -k -j1 -q -n2 --dry-run printf '[%s]\n' 'p q{}r s' ::: a 'b c')"
ok "-q -n2 --tagstring: the tag is one string" "a b${tab}[a]${nl}a b${tab}[b]${nl}rc=0" \
	"$(run -k -j1 -q -n2 --tagstring '{}' printf '[%s]\n' '{}' ::: a b)"
ok "-q -N2: a copy each, as before" "[xay]${nl}[xby]${nl}rc=0" \
	"$(run -k -j1 -q -N2 printf '[%s]\n' 'x{}y' ::: a b)"
same "-q -n2 x{}y" -k -j1 -q -n2 printf '[%s]\n' 'x{}y' ::: a b c
same "-q -n2 'p q{}r s'" -k -j1 -q -n2 printf '[%s]\n' 'p q{}r s' ::: a 'b c' d
same "-q -n2 --dry-run" -k -j1 -q -n2 --dry-run printf '[%s]\n' 'p q{}r s' ::: a 'b c' "d'e"
same "-q two sources {.}-{/}" -k -j1 -q printf '[%s]\n' '{.}-{/}' ::: a.x ::: b/c
same "-q -m x{}y" -k -j1 -q -m printf '[%s]\n' 'x{}y' ::: a b c
same "-q --colsep {}{}" -k -j1 -q --colsep , printf '[%s]\n' '{}{}' ::: a,b,c
same "-q -n2 empty arguments" -k -j1 -q -n2 printf '[%s]\n' '{}' ::: a '' '' ''
same "-q -n3 {#}{}{%}" -k -j1 -q -n3 printf '[%s]\n' '{#}{}{%}' ::: a b c d

# ---- a script's background conc-run: its jobs get SIGINT back ----
# sh starts a command run with & with SIGINT ignored; conc-run's jobs kept
# that, so they neither died of a SIGINT nor could trap one (a shell
# cannot trap what was ignored at its start). GNU parallel's jobs get it
# as a new process would.
out=$(timeout 60 sh -c '"$1" --joblog jl "kill -INT \$\$; echo survived" ::: 1 & wait $!' sh "$R" 2>/dev/null)
ok "background: a job's kill -INT \$\$ ends it" "" "$out"
ok "background: ... the log's Signal 2" "0 2" "$(awk -F'\t' 'NR == 2 { print $7, $8 }' jl)"
ok "background: a job traps SIGINT" "trapped" \
	"$(timeout 60 sh -c '"$1" "trap \"echo trapped; exit 0\" INT; kill -INT \$\$; echo not trapped" ::: 1 & wait $!' sh "$R" 2>/dev/null)"
if [ -n "$PAR" ]; then
	ok "background: a job traps SIGINT, as parallel" \
		"$(timeout 60 sh -c 'parallel --will-cite "trap \"echo trapped; exit 0\" INT; kill -INT \$\$; echo not trapped" ::: 1 & wait $!' 2>/dev/null)" \
		"$(timeout 60 sh -c '"$1" "trap \"echo trapped; exit 0\" INT; kill -INT \$\$; echo not trapped" ::: 1 & wait $!' sh "$R" 2>/dev/null)"
else
	skip=$((skip + 1))
fi
out=$(timeout 60 sh -c 'trap "" PIPE; "$1" --joblog jp "kill -PIPE \$\$; echo survived" ::: 1' sh "$R" 2>/dev/null)
ok "SIGPIPE ignored at the start: a job's kill -PIPE \$\$ ends it" "" "$out"
ok "... the log's Signal 13" "0 13" "$(awk -F'\t' 'NR == 2 { print $7, $8 }' jp)"

# ---- GNU parallel's other names for the options conc-run has ----
# Scripts written for GNU parallel use them; conc-run refused them as
# unknown (and took --transfer, GNU's --transferfile {}, for a
# --transferfile that takes the next word).
ok "--jl: the joblog" "Seq 1" "$(run --jl j1 true ::: a >/dev/null; cut -f1 j1 | tr '\n' ' ' | sed 's/ $//')"
ok "--keeporder --max-procs 2" "a${nl}b${nl}rc=0" "$(run --keeporder --max-procs 2 echo ::: a b)"
ok "--maxprocs=1 --dryrun" "echo a${nl}rc=0" "$(run --maxprocs=1 --dryrun echo ::: a)"
ok "--linebuffer" "a${nl}rc=0" "$(run --linebuffer echo ::: a)"
ok "--line-buffered" "a${nl}rc=0" "$(run --line-buffered echo ::: a)"
ok "--linebuffered" "a${nl}rc=0" "$(run --linebuffered echo ::: a)"
ok "--col-sep --tag-string" "x${tab}b a${nl}rc=0" "$(run --col-sep , --tag-string x echo {2} {1} ::: a,b)"
ok "--maxargs" "a b${nl}rc=0" "$(run -k --maxargs 2 echo ::: a b)"
ok "--maxreplaceargs" "xay xby${nl}rc=0" "$(run -k --maxreplaceargs 2 echo x{}y ::: a b)"
ok "--maxlines" "a b${nl}rc=0" "$(run -k --maxlines 2 echo ::: a b)"
printf 'a\nb\n' > ab
ok "--argfile --haltonerror --blocksize" "a${nl}b${nl}rc=0" "$(run -k --argfile ab --haltonerror now,fail=1 --blocksize 1k echo)"
ok "--spreadstdin" "2${nl}rc=0" "$(printf 'a\nb\n' | timeout 60 "$R" --spreadstdin wc -l; echo "rc=$?")"
ok "--result DIR" "a" "$(run --result rd echo ::: a >/dev/null; cat rd/1/a/stdout)"
ok "--resumefailed" "rc=0" "$(run --jl j2 --resumefailed true ::: a)"
ok "--transfer takes no value" "echo a${nl}rc=0" "$(run --transfer --dry-run echo ::: a)"
ok "--transfer-file, --transferfiles: a value" "echo a${nl}rc=0" \
	"$(run --transfer-file x --transferfiles y --dry-run echo ::: a)"
same "--keeporder --jl --dryrun" --keeporder --jl j3 --dryrun echo ::: a b
same "--max-procs 1 --linebuffer" --max-procs 1 --linebuffer echo ::: a b
same "--maxargs 2 --col-sep" -k --maxargs 2 --col-sep , echo ::: a,b c
same "--transfer --dry-run" -k --transfer --dry-run echo ::: a

# ---- --tag and --line-buffer: a carriage return ends a line too ----
ok "--tag: a carriage return starts a tagged line" "a${tab}1${tab}50%$(printf '\r')a${tab}100%${nl}rc=0" \
	"$(run --tag 'printf "1\t50%%\r100%%\n"' ::: a)"
ok "--tag: a CRLF line is two" "a${tab}x$(printf '\r')a${tab}${nl}rc=0" "$(run --tag 'printf "x\r\n"' ::: a)"
ok "--tagstring --line-buffer: the same" "T${tab}x$(printf '\r')T${tab}y${nl}rc=0" \
	"$(run --line-buffer --tagstring T 'printf "x\ry\n"' ::: a)"
same "--tag, carriage returns" -k --tag 'printf "1\r2\r\n3\r"' ::: a b
# (Not "1\r2\r\n3\r": GNU parallel's --line-buffer leaves the tag off a
# last line that ends in a carriage return after a newline of the same
# read, though it puts it on one without either; conc-run tags each.)
same "--tag --line-buffer, carriage returns" -k --tag --line-buffer 'printf "1\r2\r\n3\n"' ::: a b
same "--tagstring {}, carriage returns" -k --tagstring '<{}>' 'printf "x\r\ny\r\n"' ::: a b
# --line-buffer prints what ends in a carriage return while the job runs:
# the job waits (bounded) for a reader to have seen it.
ok "--line-buffer: a line ended by a carriage return comes at once" "50%$(printf '\r')seen" \
	"$(timeout 60 "$R" --line-buffer 'printf "50%%\r"; i=0; while [ ! -e cr.seen ] && [ $i -lt 800 ]; do sleep 0.05; i=$((i + 1)); done; [ -e cr.seen ] && echo seen || echo late' ::: 1 |
	   { head -c 4; touch cr.seen; cat; })"

# ---- -n 0 / -N 0 with several sources: a job's values are each '' ----
# GNU parallel empties every value of the job's record and joins them
# with spaces, unquoted: {} of two sources is one space, and so is the
# tag; -q makes the text before {} and the text after it two words.
# conc-run put nothing.
ok "-n 0, two sources: {} is a space" "[ ]${nl}[ ]${nl}rc=0" \
	"$(run -k -n 0 echo '[{}]' ::: a b ::: c)"
ok "-N 0, three sources: a copy each" "[xy] [xy] [xy]${nl}rc=0" \
	"$(run -k -N 0 echo '"[x{}y]"' ::: a ::: b ::: c)"
ok "-n 0 --tag, two sources" " ${tab}x${nl}rc=0" "$(run -k -n 0 --tag echo x ::: a ::: b)"
ok "-n 0 --dry-run, two sources" "echo  ${nl}rc=0" "$(run -k -n 0 --dry-run echo ::: a ::: b)"
ok "-n 0 -q, three sources: x{}y is two words" "[x]${nl}[y]${nl}rc=0" \
	"$(run -k -n 0 -q printf '[%s]\n' 'x{}y' ::: a ::: b ::: c)"
ok "-n 0, one source: {} is nothing" "[]${nl}rc=0" "$(run -k -n 0 echo '[{}]' ::: a)"
same "-n 0 --tag, three sources" -k -n 0 --tag echo x ::: a b ::: c d ::: e
same "-n 0 --tagstring [{}]" -k -n 0 --tagstring '[{}]' echo x ::: a b ::: c d
same "-n 0 [{}] {1}" -k -n 0 echo '[{}]' '[{1}]' ::: a b ::: c d
same "-N 0 x{}y" -k -N 0 echo 'x{}y' ::: a b ::: c d ::: e
same "-n 0 --dry-run, three sources" -k -n 0 --dry-run echo ::: a b ::: c d ::: e
same "-n 0 -q x{}y" -k -n 0 -q printf '[%s]\n' 'x{}y' ::: a ::: b ::: c
same "-n 0 --colsep" -k -n 0 echo '[{}]' ::: a,b,c --colsep ,

# ---- --timeout P%: P% of the median run time of the jobs that succeeded
# GNU parallel takes it (no job times out before one succeeded, and its
# deadlines are looked at in whole seconds); conc-run refused it (255).
# (A first job is never timed out: the tests that need a job to live
# have it first, or after jobs that failed.)
ok "--timeout 200%: taken" "a${nl}rc=0" "$(run -k --timeout 200% echo ::: a)"
ok "--timeout 1%: none succeeded yet, nothing times out" "first${nl}rc=0" \
	"$(run -k -j1 --timeout 1% 'sleep 0.3; echo {}' ::: first)"
ok "--timeout 1%: failed jobs do not count" "ok${nl}rc=3" \
	"$(run -k -j1 --timeout 1% 'if [ {} = 4 ]; then sleep 0.3; echo ok; else exit 1; fi' ::: 1 2 3 4)"
# A quick job, and beside it one of 30 s: once the first succeeded, the
# second (running) gets a deadline of a second, or twice the first's run
# time, and is killed by TERM (the log's Signal 15).
out=$(run -k -j2 --joblog tp --timeout 200% 'if [ {} = 2 ]; then sleep 30; echo late; else echo {}; fi' ::: 1 2)
ok "--timeout 200%: a running job past twice the median is killed" "1${nl}rc=1" "$out"
ok "... the log's Exitval -1, Signal 15" "2 -1 15" "$(awk -F'\t' '$1 == 2 { print $1, $7, $8 }' tp)"
ok "--timeout 1.5%: taken" "a${nl}rc=0" "$(run --timeout 1.5% echo ::: a)"
ok "--timeout x%: refused" "rc=255" "$(run --timeout x% echo ::: a)"
same "--timeout 200%" -k --timeout 200% echo ::: a
same "--timeout 1% before a success" -k -j1 --timeout 1% 'sleep 0.2; echo {}' ::: a

# ---- -r, --no-run-if-empty: inputs of white space only are skipped ----
# GNU parallel takes xargs' -r: a value (a line of stdin, of a :::: file,
# a ::: word) that is empty or white space is no input; conc-run refused
# the option (exit 255).
ok "-r: blank lines of stdin skipped" "[a]${nl}[${tab}b]${nl}rc=0" \
	"$(printf 'a\n\n \n\tb\n' | timeout 60 "$R" -k -r echo '[{}]'; echo "rc=$?")"
ok "-r: nothing but blanks, no job" "rc=0" \
	"$(printf ' \n\n' | timeout 60 "$R" -r echo x; echo "rc=$?")"
ok "--no-run-if-empty: ::: words" "[a]${nl}[b]${nl}rc=0" "$(run -k --no-run-if-empty echo '[{}]' ::: a '' ' ' b)"
ok "-r: each source apart" "a-b${nl}rc=0" "$(run -k -r echo '{1}-{2}' ::: '' a ::: b ' ')"
printf 'a\n\n \nb\n' > rin
ok "-r: a :::: file, -n 2" "[a b]${nl}rc=0" "$(run -k -r -n 2 echo '[{}]' :::: rin)"
ok "-r -0" "[a]${nl}[b]${nl}rc=0" \
	"$(printf 'a\0\0 \0b\0' | timeout 60 "$R" -k -r -0 echo '[{}]'; echo "rc=$?")"
ok "-r: stdin -n 2 waits for two that are not blank" "[a b]${nl}rc=0" \
	"$(printf 'a\n\n \nb\n' | timeout 60 "$R" -k -r -n 2 echo '[{}]'; echo "rc=$?")"
ok "-r --pipe: refused" "rc=255" "$(run -r --pipe cat)"
same "-r ::: words" -k -r echo '[{}]' ::: a '' ' ' b
same "-r two sources" -k -r echo '{1}-{2}' ::: '' a ::: b ' '
same "-r :::: file" -k -r echo '[{}]' :::: rin
same "-r only blanks" -k -r echo '[{}]' ::: '' ::: ' '

# ---- -v: each command line on stdout before its output ----
# (--verbose is GNU parallel's -t, on stderr: tests/test_conc_run_gnu.sh.)
# GNU parallel prints it as the job's first line (tagged with --tag; at
# the start with -u and --line-buffer; once with --dry-run; not with
# --results); conc-run refused -v (exit 255).
ok "-v: the line, then the output" "echo a${nl}a${nl}echo 'b c'${nl}b c${nl}rc=0" \
	"$(run -k -v echo ::: a 'b c')"
ok "-v --tag: the line tagged" "a${tab}echo a${nl}a${tab}a${nl}rc=0" "$(run -k -v --tag echo ::: a)"
ok "-v -u -j1: the line first" "echo a${nl}a${nl}echo b${nl}b${nl}rc=0" "$(run -k -j1 -v -u echo ::: a b)"
ok "-v --line-buffer" "echo a; echo e${nl}a${nl}e${nl}rc=0" "$(run -k -v --line-buffer 'echo {}; echo e' ::: a)"
ok "-v -q" "echo 'a b'${nl}a b${nl}rc=0" "$(run -v -q echo ::: 'a b')"
ok "-v --dry-run: once" "echo a${nl}rc=0" "$(run -v --dry-run echo ::: a)"
ok "-v --results: nothing printed" "rc=0${nl}a" "$(run -v --results rv echo ::: a; echo; cat rv/1/a/stdout)"
same "-v" -k -v echo ::: a 'b c' "d'e"
same "-v --tag" -k -v --tag echo ::: a b
same "-v -u -j1" -k -j1 -v -u 'echo {}; echo e' ::: a b
same "-v --line-buffer" -k -v --line-buffer 'echo {}; echo e' ::: a b
same "-v -q" -k -v -q printf '[%s]\n' ::: 'a b' c
same "-v --dry-run" -k -v --dry-run echo ::: a b
same "-v -n 2 a failing job" -k -v -n 2 'echo {}; exit 1' ::: a b c

# ---- {0}: all the arguments, as {} ----
# GNU parallel takes {0} (and {0.}, {0/}, ...) as {} of the job's
# arguments (the harness found it: echo {0} ::: a/b.c printed a/b.c);
# conc-run left {0} as it was and appended the argument.
ok "{0} is {}" "[a b]${nl}rc=0" "$(run -k echo '"[{0}]"' ::: a ::: b)"
ok "{0/} {0.}" "c b.x a/c a/b${nl}rc=0" "$(run -k echo '{0/}' '{0.}' ::: a/c ::: a/b.x)"
ok "{0x}: not a replacement string" "{0x} a${nl}rc=0" "$(run -k echo '{0x}' ::: a)"
same "{0x}" -k echo '{0x}' ::: a
same "{0} two sources" -k echo '"[{0}]"' ::: a ::: b
same "{0/} {0//} {0/.}" -k echo '{0/}' '{0//}' '{0/.}' ::: a/c.e ::: b/d.f
same "-n 2 {0}" -k -n 2 echo '"[{0}]"' ::: a b c

# ---- -I STR, --replace[=STR], -i[STR]: STR is {} ----
# GNU parallel 20221122 renames {} to STR (its rpl('{}', STR)): STR is
# taken as it is (no regex: .* is two bytes), anywhere in a word, as
# often as it comes; {} is then left as it is, and so are {N}, {-N}
# and {0} (made from {}'s entry), where {.} {/} {//} {/.} {#} {%} and
# {N.} {N/} ... stay; the last -I wins; --replace takes the next word as
# STR unless it starts with - and is longer than "-", --replace and -i
# alone are -I {}. conc-run refused -I (exit 255).
ok "-I @@" "a${nl}b${nl}rc=0" "$(run -k -I @@ echo @@ ::: a b)"
ok "-I @@: {} left as it is" "{} a${nl}rc=0" "$(run -k -I @@ echo {} @@ ::: a)"
ok "-I X: twice in a word, X. not {.}" "a. aaa${nl}rc=0" "$(run -k -I X echo X. XaX ::: a)"
ok "-I .*: not a regex" "a aab${nl}rc=0" "$(run -k -I '.*' echo '.*' 'a.*b' ::: a)"
ok "-I @@ -q: inside a quoted word" "a x${nl}rc=0" "$(run -k -I @@ -q echo '@@ x' ::: a)"
ok "-I @@: the others stay, {N} does not" "x/a a.c 1 {1} {-1} {0} x/a.c${nl}rc=0" \
	"$(run -k -j1 -I @@ echo {.} {/} {#} {1} {-1} {0} @@ ::: x/a.c)"
ok "--replace=@@" "a${nl}rc=0" "$(run --replace=@@ echo @@ ::: a)"
ok "--replace @@" "a${nl}rc=0" "$(run --replace @@ echo @@ ::: a)"
ok "-i@@" "a${nl}rc=0" "$(run -i@@ echo @@ ::: a)"
ok "-I '': refused" "rc=255" "$(run -I '' echo ::: a)"
ok "--replace -k: -I {}" "a${nl}rc=0" "$(run --replace -k echo {} ::: a)"
same "-I @@" -k -I @@ echo @@ ::: a b
same "-I@@ and {}" -k -I@@ echo {} @@ ::: a b
same "-I {}" -k -I {} echo {} ::: a b
same "-I X" -k -I X echo X. XaX ::: a b
same "-I .*" -k -I '.*' echo '.*' 'a.*b' ::: a b
same "-I @@ twice in a word" -k -I @@ echo @@@@ '<@@|@@>' ::: a b
same "-I @@ -q" -k -I @@ -q echo '@@ x' ::: a "b c"
same "-I @@ none in the command" -k -I @@ echo ::: a b
same "-I @@ other strings" -k -j1 -I @@ echo {.} {/} {//} {/.} {#} {%} @@ ::: x/a.c y/b.d
same "-I @@ positional" -k -I @@ echo {1} {1.} {2/} {-1} {0} @@ ::: a.x ::: b/c
same "-I @@ -n 2" -k -I @@ -n 2 echo @@ ::: a b c
same "-I @@ -N 2" -k -I @@ -N 2 echo x@@y ::: a b c
same "-I @@ -X" -k -j2 -I @@ -X echo x@@y ::: a b c
same "-I @@ -m" -k -j2 -I @@ -m echo x@@y ::: a b c
same "-I @@ --colsep" -k -I @@ --colsep , echo @@ {1} {2} {2.} ::: a,b.c
same "-I @@ --tagstring" -k -I @@ --tagstring @@-x echo @@ ::: a
same "-I twice: the last" -k -I @@ -I ZZ echo @@ ZZ ::: a
same "-I {.}: {.} is {}" -k -I {.} echo {.} {} ::: a.b
same "-I -k: the word" -k -I -k echo -k ::: a
same "--replace=@@" -k --replace=@@ echo @@ ::: a
same "--replace @@" -k --replace @@ echo @@ ::: a
same "--replace -k" --replace -k echo {} ::: a
same "-i@@" -k -i@@ echo @@ ::: a
same "--dry-run -I @@" --dry-run -I @@ echo "@@'s" ::: a

echo "test_conc_run_diff: $pass passed, $fail failed, $skip skipped"
[ "$fail" = 0 ]
