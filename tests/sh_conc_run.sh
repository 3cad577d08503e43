# tests/sh_conc_run.sh — the start of the conc-run shell tests that
# compare it with GNU parallel, sourced with TMPNAME set: R (the
# conc-run to test: $CONC_RUN, else ./bin/conc-run), ok and capture
# (sh_ok.sh), sshd_start (sh_sshd.sh), PAR, same and sameerr
# (sh_par.sh), a scratch dir $T made the working dir and removed at exit,
# nl and tab, and run.
HERE=$(cd "$(dirname "$0")" && pwd)
R=${CONC_RUN:-$(pwd)/bin/conc-run}
. "$HERE/sh_ok.sh"
. "$HERE/sh_sshd.sh"
T=$(mktemp -d "/tmp/$TMPNAME.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
. "$HERE/sh_par.sh"
cd "$T" || exit 1
nl='
'
tab='	'

# run ARGS...: conc-run's stdout, then "rc=N"; stderr in $T/err
run() { capture "$R" "$@"; }
