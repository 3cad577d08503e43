/*
 * Join and gather, from anywhere. The waiter hangs one struct jwait on the
 * tasks it waits for (t->watch); an ending task turns that into
 * WATCH_CLAIMED(jw) (WATCH_DONE when nobody watched), then counts jw.seq
 * up and wakes the waiter: directly when the waiter is a task parked on
 * the same loop, else with a futex wake on seq (a thread, or a task of
 * another loop waiting through the wait point). A waiter claims the tasks
 * that had already ended, so a task is freed by one joiner only, even when
 * two come after its end or one ts names it twice (-EINVAL for the other).
 *
 * The jwait lives in the waiting task's struct (never on a shared stack)
 * or on a plain thread's stack; the waiter leaves only once seq counted
 * every task it still watched, so no ending task touches it afterwards
 * (but for the futex wake, which only names the address).
 */
#include <errno.h>
#include <stdlib.h>
#include "loop/loop_impl.h"

/* The claim bits of watch (loop_impl.h) sit below a jwait's alignment. */
_Static_assert(_Alignof(struct jwait) >= 8, "three tag bits");

#ifdef CONC_FAULT_INJECTION
void (*__conc_fi_loop_unwatch)(void);
#endif

static bool ended(struct conc_task *t)
{
	return (uintptr_t)__atomic_load_n(&t->watch, __ATOMIC_ACQUIRE) & 3;
}

/* Watch t for jw: 1 registered (it runs), 0 claimed (it ended; no other
 * joiner takes it now, nor a second entry of the same ts), -1 someone
 * else joins it. */
static int watch(struct conc_task *t, struct jwait *jw)
{
	struct jwait *exp = NULL;

	if (__atomic_compare_exchange_n(&t->watch, &exp, jw, false,
					__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return 1;
	if (exp == WATCH_DONE &&
	    __atomic_compare_exchange_n(&t->watch, &exp, WATCH_CLAIMED(jw), false,
					__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return 0;
	return -1;
}

/* Give back t, ended and claimed by jw, to its loop: still joinable, and
 * freed by the loop at its end. Once the loop's last pass left it to jw
 * (conc_run is returning), nobody else will free it: we do. */
static void give_back(struct conc_task *t, struct jwait *jw)
{
	struct jwait *exp = WATCH_CLAIMED(jw);

	if (!__atomic_compare_exchange_n(&t->watch, &exp, WATCH_DONE, false,
					 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		__conc_task_dealloc(t);
}

/* Stop watching, giving up the claims (the handles stay joinable); wait
 * for the count of those that ended meanwhile. */
static void unwatch(conc_task **ts, size_t n, struct jwait *jw, uint32_t reg,
		    struct conc_task *cur)
{
	bool cancelled = false;
	size_t i;
	uint32_t s;

	CONC_FI_LOOP_POINT(__conc_fi_loop_unwatch);
	for (i = 0; i < n; i++) {
		struct jwait *exp = jw;

		if (__atomic_compare_exchange_n(&ts[i]->watch, &exp, NULL, false,
						__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			reg--;
		else if (((uintptr_t)exp & ~WATCH_ORPHAN) == (uintptr_t)WATCH_CLAIMED(jw))
			give_back(ts[i], jw);
	}
	/* Between its claim and its count an ending task on another
	 * thread runs a few instructions: wait for them. */
	while ((s = __atomic_load_n(&jw->seq, __ATOMIC_ACQUIRE)) < reg)
		if (__conc_wait(&jw->seq, s, -1, CONC_PRIVATE) == -ECANCELED)
			cancelled = true;
	/* A cancel taken by that short wait is not this call's result (it
	 * has its own): it stays for the task's next suspending call. */
	if (cancelled && cur)
		cur->cancel = true;
}

static void cancel_rest(conc_task **ts, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!ended(ts[i]))
			conc_task_cancel(ts[i]);
}

/* Free the handle: on its loop's thread at once, else through its door.
 * A shut door (the loop is ending: its struct may be freed by now, the
 * door never is) means the loop frees it in its last pass, unless that
 * pass already left it to us (give_back). */
static void release(struct conc_task *t, struct jwait *jw)
{
	if (__conc_task_here(t)) {
		/* A cancel another thread made before this join may still wait
		 * in the door, naming t: delivered now, not after t is gone. */
		__conc_door_drain(t->loop);
		__conc_task_free(t->loop, t);
		return;
	}
	t->freemsg.kind = MSG_FREE;
	t->freemsg.arg = t;
	if (__conc_door_post(t->door, t->door_gen, &t->freemsg) == -EPIPE)
		give_back(t, jw);
}

/* Wait until every task ended (or one failed, with CONC_GATHER_CANCEL):
 * seq counts the ends of the reg tasks still running at registration. */
static int wait_all(conc_task **ts, size_t n, unsigned flags, uint32_t reg,
		    struct jwait *jw, struct conc_task *cur, conc_deadline dl)
{
	bool cancelled = false;
	size_t i;
	int r = 0;

	if (flags & CONC_GATHER_CANCEL)
		for (i = 0; i < n && !jw->failed; i++)
			if (ended(ts[i]) && ts[i]->exit_code < 0)
				jw->failed = 1;
	for (;;) {
		uint32_t seen = __atomic_load_n(&jw->seq, __ATOMIC_SEQ_CST);

		/* A failed wait stays failed even if all ended meanwhile: its
		 * -ECANCELED is the task's one, not to be lost. */
		if (seen == reg && r == 0)
			return 0;
		/* Also once the wait failed: a task may have failed before the
		 * deadline and been seen after (its end and the timer came in
		 * one batch); the others are cancelled all the same. */
		if ((flags & CONC_GATHER_CANCEL) && !cancelled &&
		    __atomic_load_n(&jw->failed, __ATOMIC_RELAXED)) {
			cancelled = true;
			cancel_rest(ts, n);
			continue;
		}
		if (r < 0)
			return r;
		if (jw->co) {
			bool look = __conc_expired(dl);

			r = __conc_take_cancel_dl(cur, dl) ? -ECANCELED :
				__conc_park(cur, dl);
			/* A look (its deadline has passed) parks only to let
			 * the loop's other tasks run: a cancel one of them
			 * made meanwhile is not its result, but the next
			 * waiting call's (conc_task_cancel(3)). */
			if (look && r == -ECANCELED) {
				cur->cancel = true;
				r = -ETIMEDOUT;
			}
		} else {
			r = __conc_wait(&jw->seq, seen, dl, CONC_PRIVATE);
		}
	}
}

/* Check ts[i] for gather: 0, or why it cannot be gathered. */
static int check(conc_task *t, struct conc_task *cur)
{
	if (!t)
		return -EINVAL;
	if (t == cur)
		return -EDEADLK;
	/* conc_run's main and a conc_loop_call task: the loop frees them,
	 * a joiner must not. */
	if (t->detached || t->is_main)
		return -EINVAL;
	return 0;
}

/* Check and watch ts in one pass (100,000 cold tasks are read once): 0,
 * or the first check's error (else -EINVAL when a task has a joiner
 * already) with nothing watched. jw->co stays NULL while it runs: a task
 * of another loop may end at once and read it; it becomes cur only when
 * every task is of cur's loop, which none of them can leave meanwhile. */
static int watch_all(conc_task **ts, size_t n, struct jwait *jw,
		     struct conc_task *cur, uint32_t *reg)
{
	bool same = cur != NULL;
	size_t i, k = n;	/* watched: ts[0, k) */
	int r = 0;

	jw->seq = 0;
	jw->failed = 0;
	jw->co = NULL;
	*reg = 0;
	for (i = 0; i < n; i++) {
		int w;

		if (i + 8 < n && ts[i + 8])
			__builtin_prefetch(&ts[i + 8]->watch, 1);
		if ((r = check(ts[i], cur)) < 0)
			break;
		if (cur && ts[i]->loop != cur->loop)
			same = false;
		if (k < n)
			continue;	/* a conflict: only checks from here */
		w = watch(ts[i], jw);
		if (w < 0)
			k = i;
		else
			*reg += (uint32_t)w;
	}
	if (r < 0 || k < n) {
		unwatch(ts, k < i ? k : i, jw, *reg, cur);
		return r < 0 ? r : -EINVAL;
	}
	jw->co = same ? cur : NULL;
	return 0;
}

/* 0 once all ended (*first: the first negative exit code, or 0), or the
 * wait's error with every handle left joinable. */
static int gather(conc_task **ts, size_t n, int *exit_codes, unsigned flags,
		  int64_t timeout_ns, int *first)
{
	conc_deadline dl = __conc_deadline(timeout_ns);
	struct conc_task *cur = __conc_cur();
	struct jwait local, *jw = cur ? &cur->jw : &local;
	uint32_t reg;
	size_t i;
	int r;

	*first = 0;
	if ((!ts && n) || (flags & ~CONC_GATHER_CANCEL))
		return -EINVAL;
	r = watch_all(ts, n, jw, cur, &reg);
	if (r < 0)
		return r;
	r = wait_all(ts, n, flags, reg, jw, cur, dl);
	/* All ended (and counted), all claimed by jw: nothing to undo or
	 * wait for, and no pass over 100,000 cold tasks for nothing. */
	if (r < 0) {
		unwatch(ts, n, jw, reg, cur);
		return r;
	}
	for (i = 0; i < n; i++) {
		int code;

		if (i + 8 < n)
			__builtin_prefetch(ts[i + 8]);
		code = ts[i]->exit_code;
		if (exit_codes)
			exit_codes[i] = code;
		if (code < 0 && !*first)
			*first = code;
		release(ts[i], jw);
	}
	return 0;
}

int conc_gather(conc_task **ts, size_t n, int *exit_codes, unsigned flags,
		int64_t timeout_ns)
{
	int first, r = gather(ts, n, exit_codes, flags, timeout_ns, &first);

	return r < 0 ? r : first;
}

int conc_task_join(conc_task *t, int *exit_code, int64_t timeout_ns)
{
	int first;

	if (!t)
		return -EINVAL;
	return gather(&t, 1, exit_code, 0, timeout_ns, &first);
}
