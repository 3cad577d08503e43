#!/bin/sh
# check-wait-point.sh — every blocking call of the library goes through the
# wait point (lib/wait/). Outside lib/wait/ and lib/sys/ nothing may call:
#   sys_futex* (wait or wake: the word protocol is the wait point's),
#   sys_ppoll, sys_sched_yield, sys_waitid or waitid/waitpid/wait4 without
#   WNOHANG (reaping after the pidfd said so is fine), wait(), the sleeps,
#   nor the same through libc (poll, ppoll, select, epoll_wait, sched_yield,
#   nanosleep, ...) or syscall(SYS_futex, ...) / __NR_futex and kin.
# Comments and string literals do not count; a call's arguments may span
# lines. Prints each offending line as file:line: text and exits 1.
#
#   tests/check-wait-point.sh [dir]      (default: lib)
set -u
cd "$(dirname "$0")/.." || exit 1
root=${1:-lib}

files=$(find "$root" \( -name '*.c' -o -name '*.h' \) \
	! -path "$root/wait/*" ! -path "$root/sys/*" | LC_ALL=C sort)
[ -n "$files" ] || { echo "wait-point-check: no sources under $root" >&2; exit 1; }

# shellcheck disable=SC2086
awk '
# The line with comments, string and character literals blanked out.
function code(s,    out, c, i, n) {
	out = ""; n = length(s)
	for (i = 1; i <= n; i++) {
		c = substr(s, i, 1)
		if (incom) {
			if (c == "*" && substr(s, i + 1, 1) == "/") { incom = 0; i++ }
			out = out " "
		} else if (instr != "") {
			if (c == "\\") { i++; out = out "  " }
			else { if (c == instr) instr = ""; out = out " " }
		} else if (c == "/" && substr(s, i + 1, 1) == "*") { incom = 1; i++; out = out "  " }
		else if (c == "/" && substr(s, i + 1, 1) == "/") break
		else if (c == "\"" || c == "\047") { instr = c; out = out " " }
		else out = out c
	}
	instr = ""                      # a literal never spans lines here
	return out
}

function report(line, text) {
	sub(/^[ \t]+/, "", text)
	printf "%s:%d: %s\n", FILENAME, line, text
	hits++
}

BEGIN {
	W = "(^|[^A-Za-z0-9_.>])"   # a call by name, not a member or a longer name
	always = W "(sys_futex[A-Za-z0-9_]*|sys_ppoll|sys_poll|sys_sched_yield|sys_select|sys_pselect6|sys_epoll_wait|sys_epoll_pwait|sys_nanosleep|sys_clock_nanosleep|ppoll|poll|select|pselect|epoll_wait|epoll_pwait|sched_yield|nanosleep|clock_nanosleep|usleep|sleep|pause|sigsuspend|wait)[ \t]*\\("
	raw = "(SYS|__NR)_(futex[a-z0-9_]*|ppoll|poll|sched_yield|waitid|wait4|select|pselect6|epoll_wait|epoll_pwait|nanosleep|clock_nanosleep)([^A-Za-z0-9_]|$)"
	reap = W "(sys_waitid|sys_wait4|waitid|waitpid|wait4)[ \t]*\\("
}

FNR == 1 { incom = 0; pending = 0 }

{
	c = code($0)
	if (pending) {                  # inside the arguments of a reap call
		args = args " " c
		if (depth(c) || FNR - pline > 12) finish()
		next
	}
	if (c ~ always || c ~ raw) { report(FNR, $0); next }
	if (match(c, reap)) {
		pending = 1; pline = FNR; ptext = $0; pdepth = 0
		args = substr(c, RSTART)
		if (depth(args)) finish()
	}
}

# Counts parentheses of a reap call; true once its argument list closed.
function depth(s,    i, ch) {
	for (i = 1; i <= length(s); i++) {
		ch = substr(s, i, 1)
		if (ch == "(") pdepth++
		else if (ch == ")" && --pdepth == 0) return 1
	}
	return 0
}

function finish() {
	pending = 0
	if (args !~ /WNOHANG/) report(pline, ptext)
}

END { exit hits > 0 }
' $files
rc=$?
if [ $rc -ne 0 ]; then
	echo "wait-point-check: the calls above block outside the wait point (lib/wait/wait.h)"
	exit 1
fi
echo "wait-point-check: every blocking call in $root goes through lib/wait/"
