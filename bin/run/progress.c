/* --bar, --progress, --eta: one line on stderr redrawn in place, at most
 * ten times a second, and only when stderr is a terminal. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "run.h"

#define REDRAW_NS 100000000

static void eta(char *b, size_t n, const struct progress *p, int64_t now)
{
	double el = (double)(now - p->t0) / 1e9, left;

	if (p->total < 0 || !p->done) {
		snprintf(b, n, "ETA: ?");
		return;
	}
	left = el / (double)p->done * (double)(p->total - p->done);
	snprintf(b, n, "ETA: %.0fs", left < 0 ? 0 : left);
}

void progress_draw(struct progress *p, const struct opts *o, int64_t now,
		   bool force)
{
	char line[256], e[64], bar[41];
	long total = p->total;
	int len;

	if (!p->on || (!force && now - p->last < REDRAW_NS))
		return;
	p->last = now;
	eta(e, sizeof(e), p, now);
	if (o->bar && total > 0) {
		int fill = (int)(40 * p->done / total);
		int pct = (int)(100 * p->done / total);

		memset(bar, '#', (size_t)fill);
		memset(bar + fill, ' ', (size_t)(40 - fill));
		bar[40] = 0;
		len = snprintf(line, sizeof(line),
			       "\r%3d%% %ld/%ld [%s] running %ld, failed %ld, %s",
			       pct, p->done, total, bar, p->running, p->failed, e);
	} else {
		char of[32] = "";

		if (total >= 0)
			snprintf(of, sizeof(of), "/%ld", total);
		len = snprintf(line, sizeof(line),
			       "\rdone %ld%s, running %ld, failed %ld%s%s",
			       p->done, of, p->running, p->failed,
			       o->eta || o->bar ? ", " : "",
			       o->eta || o->bar ? e : "");
	}
	if (len > 0) {
		if ((size_t)len >= sizeof(line) - 4)
			len = (int)sizeof(line) - 4;
		memcpy(line + len, "\033[K", 3);
		out_write(2, line, (size_t)len + 3);
		out_flush();
	}
}

void progress_end(struct progress *p)
{
	if (!p->on)
		return;
	out_write(2, "\n", 1);
	out_flush();
}
