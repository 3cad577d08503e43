#!/bin/sh
# check-wait-point.sh — every blocking call of the library goes through the
# wait point (lib/wait/). Outside lib/wait/ and lib/sys/ nothing may call:
#   sys_futex* (wait or wake: the word protocol is the wait point's),
#   sys_ppoll, sys_sched_yield, sys_waitid or waitid/waitpid/wait4 without
#   WNOHANG (reaping after the pidfd said so is fine), wait(), the sleeps,
#   nor the same through libc (poll, ppoll, select, epoll_wait, sched_yield,
#   nanosleep, ...) or syscall(SYS_futex, ...) / __NR_futex and kin;
# nor build or read a timespec (tv_sec, tv_nsec): times are deadlines or
# nanoseconds, and lib/sys/ alone converts them (sys_ts_abs and kin).
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
awk -f tests/c-code.awk -f tests/wait-point.awk $files
rc=$?
if [ $rc -ne 0 ]; then
	echo "wait-point-check: the lines above block or handle a timespec outside the wait point (lib/wait/wait.h) and lib/sys/"
	exit 1
fi
echo "wait-point-check: every blocking call in $root goes through lib/wait/"
