# tests/sh_tools.sh — sourced after sh_ok.sh by the shell tests of
# conc-sem, conc-queue and conc-event. Needs $T and $SEM.

# run TOOL ARGS...: stdout, then "rc=N"; stderr kept in $T/err
run() { capture "$@"; }

# The first line of the last stderr.
err() { head -n 1 "$T/err"; }

# msg NAME TOOL: the last stderr reads "TOOL: what failed: why".
msg() {
	case $(err) in
	"$2: "?*": "?*) ok "$1: tool: what: why" 1 1 ;;
	*) ok "$1: tool: what: why" "$2: ...: ..." "$(err)" ;;
	esac
}

# until_ COMMAND...: run it every 50 ms until it succeeds, 20 s at most.
until_() {
	i=0
	until "$@"; do
		i=$((i + 1))
		[ $i -ge 400 ] && return 1
		sleep 0.05
	done
}

holders() { timeout 10 "$SEM" --status "$1" 2>/dev/null | grep -c "^[0-9]"; }
