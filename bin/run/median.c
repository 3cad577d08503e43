/* --timeout P%: P% of the median run time of the jobs that succeeded so
 * far, as GNU parallel's. Its median is a remedian (Rousseeuw and
 * Bassett): the median of the last 999 run times, the median of the last
 * 999 of those medians, and the median of those, so exact up to 999 jobs
 * and a bounded cost per job after; the lower one of an even count.
 * GNU parallel sorts the run times as text; here as numbers. */
#include <stdlib.h>
#include <string.h>
#include "loop.h"

#define LEN 999

struct median {
	double v[3][LEN];
	int n[3];
	long i;
};

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double mid(const double *v, int n)
{
	double t[LEN];

	memcpy(t, v, sizeof(*t) * (size_t)n);
	qsort(t, (size_t)n, sizeof(*t), cmp);
	return t[(n - 1) / 2];
}

int64_t median_add(struct median **mp, double secs)
{
	struct median *m = *mp;
	long at[3];
	double x = secs;

	if (!m)
		m = *mp = memset(run_alloc(sizeof(*m)), 0, sizeof(*m));
	at[0] = m->i % LEN;
	at[1] = m->i / LEN % LEN;
	at[2] = m->i / LEN / LEN % LEN;
	m->i++;
	for (int l = 0; l < 3; l++) {
		m->v[l][at[l]] = x;
		if (at[l] >= m->n[l])
			m->n[l] = (int)at[l] + 1;
		x = mid(m->v[l], m->n[l]);
	}
	return (int64_t)(x * 1e9);
}
