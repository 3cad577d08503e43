# wait-point.awk — used by check-wait-point.sh after c-code.awk: reports
# each blocking call made outside the wait point, as file:line: text.
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
	# Deadlines inside, timeouts at the edge: a time is a conc_deadline
	# or nanoseconds; only lib/sys/ turns it into a timespec or back.
	timespec = "(^|[^A-Za-z0-9_])tv_(sec|nsec)([^A-Za-z0-9_]|$)"
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
	if (c ~ timespec) { report(FNR, $0 "   <- a timespec outside lib/sys/"); next }
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
