# tests/sh_par.sh — sourced by the conc-run tests that compare it with
# GNU parallel (after sh_ok.sh; needs $R, the conc-run to test, and $T).
# GNU parallel is found or the comparisons are skipped, saying so.
# GNU parallel (perl) is slow: 30000 arguments with -m took over 60 s at
# load 70, and its cut output failed the check; 600 s bound only a hang.
PAR=
if command -v parallel >/dev/null 2>&1 &&
	parallel --version 2>/dev/null | grep -q '^GNU parallel'; then
	PAR=parallel
else
	echo "skip: comparisons with GNU parallel (not installed)"
fi

# have_par: GNU parallel is here; else a skip is counted (return 1).
have_par() {
	[ -n "$PAR" ] && return 0
	skip=$((skip + 1))
	return 1
}

# same NAME ARGS...: conc-run and GNU parallel give the same stdout and
# exit status (stdin: the file $IN, else /dev/null); conc-run's stderr in
# $T/err.
same() {
	name=$1
	shift
	have_par || return 0
	exp=$(timeout 600 $PAR --will-cite "$@" <"${IN:-/dev/null}" 2>/dev/null; echo "rc=$?")
	got=$(timeout 600 "$R" "$@" <"${IN:-/dev/null}" 2>"$T/err"; echo "rc=$?")
	ok "as parallel: $name" "$exp" "$got"
}

# sameerr NAME ARGS...: as same, and the same stderr too.
sameerr() {
	name=$1
	shift
	have_par || return 0
	exp=$(timeout 600 $PAR --will-cite "$@" <"${IN:-/dev/null}" 2>"$T/pe"; echo "rc=$?")
	got=$(timeout 600 "$R" "$@" <"${IN:-/dev/null}" 2>"$T/ce"; echo "rc=$?")
	ok "as parallel: $name" "$exp|$(cat "$T/pe")" "$got|$(cat "$T/ce")"
}
