/* opts.h — option values (optval.c) for the parser (opts.c). */
#ifndef CONC_RUN_OPTS_H
#define CONC_RUN_OPTS_H

#include "run.h"

/* "conc-run: what: val" and a hint, then exit 255. */
_Noreturn void opt_bad(const char *what, const char *val);
long opt_cpus(void);
/* A whole number >= min. */
long opt_num(const char *what, const char *s, long min);
/* -j: N, 0, P% of the CPUs, +N, -N. */
long opt_jobs(const char *s);
/* Seconds, fractions allowed, s/m/h/d units, several (1m30s): ns. */
int64_t opt_secs(const char *what, const char *s);
/* P% (digits, a fraction allowed, then %): P. */
double opt_pct(const char *what, const char *s);
/* Bytes, k/M/G suffix (powers of 1024). */
size_t opt_size(const char *what, const char *s);
/* C escapes \n \t \r \xHH and octal \0 \NNN undone (malloc'd; *len: its
 * length); without octal (a regex), \1 to \7 stay (back-references)
 * and perl's \d \D become POSIX brackets. */
char *opt_unescape(const char *s, size_t *len, bool octal);
/* --tagstring's escapes undone as GNU parallel's: \t \n \r \NNN \N
 * (malloc'd). */
char *opt_printf(const char *s);
/* now,fail=1 / soon,success=3 / fail=30% / 0 1 2. */
void opt_halt(struct halt *h, const char *s);

#endif
