#include <stdbool.h>
#include <stddef.h>
#include <linux/futex.h>
#include "robust.h"

#ifndef ROBUST_LIST_LIMIT
#define ROBUST_LIST_LIMIT 2048
#endif

#define FUTEX_OFFSET \
	((long)offsetof(conc_mutex, word) - (long)offsetof(conc_mutex, robust_next))

_Static_assert(offsetof(conc_mutex, robust_next) -
	       offsetof(conc_mutex, robust_prev) == sizeof(void *),
	       "prev slot must sit just before the next link");
#if defined(__LP64__)
_Static_assert(FUTEX_OFFSET == -32, "glibc's robust list shape");
#endif

/* A head for threads that have none; prev is the slot before the head that
 * unlinking the first entry writes, as in glibc's struct pthread. */
static __thread struct {
	void *prev;
	struct robust_list_head head;
} own __attribute__((tls_model("initial-exec")));

/* The registry: the robust conc mutexes this thread holds, in the order
 * they were linked (the list runs from the newest to the oldest). Beyond
 * REG_MAX held at once, the list is treated as mixed. */
#define REG_MAX 64
static __thread struct {
	struct __conc_robust_ent e[REG_MAX];
	uint32_t n;
	bool mixed;
} reg __attribute__((tls_model("initial-exec")));

static void *node(conc_mutex *m)
{
	return &m->robust_next;
}

static void reg_count(void)
{
	__conc_self_tls.robust_held = reg.n;
}

static int reg_find(const conc_mutex *m)
{
	int i = (int)reg.n;

	while (--i >= 0)
		if (reg.e[i].m == m)
			return i;
	return -1;
}

struct __conc_robust_ent *__conc_robust_entry(const conc_mutex *m)
{
	int i = reg_find(m);

	return i < 0 ? NULL : &reg.e[i];
}

/*
 * The head is the thread's own memory: if its first entry is not the newest
 * registered one, an entry the registry does not know (glibc's) is in the
 * list. One locked before a registered entry was first when that entry was
 * linked, so looking at the head on every link, unlink and release finds
 * every foreign entry.
 */
static void look_for_foreign(struct robust_list_head *h)
{
	if ((void *)h->list.next !=
	    (reg.n ? node(reg.e[reg.n - 1].m) : (void *)&h->list))
		reg.mixed = true;
}

void __conc_robust_enqueue(struct robust_list_head *h, conc_mutex *m,
			   uint32_t ctx)
{
	void *first;

	/* Still registered: a peer rewrote the word while we held m, and it
	 * came back to us. Unlink the old entry, or m would be linked twice. */
	if (reg_find(m) >= 0)
		__conc_robust_dequeue(h, m);
	first = h->list.next;
	look_for_foreign(h);
	if (reg.n == REG_MAX)
		reg.mixed = true;
	if (reg.n < REG_MAX) {
		reg.e[reg.n++] = (struct __conc_robust_ent){ m, ctx, 0, false };
		reg_count();
	}
	m->robust_next = first;
	m->robust_prev = &h->list;
	*__conc_slot_before(first) = node(m);
	__conc_robust_barrier();
	h->list.next = (struct robust_list *)node(m);
	__conc_robust_barrier();
}

void __conc_robust_dequeue(struct robust_list_head *h, conc_mutex *m)
{
	int i = reg_find(m);
	void *prev, *next;

	look_for_foreign(h);
	if (i < 0 && !reg.mixed)
		goto forget;	/* never linked: a peer made a plain mutex robust */
	if (i >= 0 && !reg.mixed) {
		prev = i == (int)reg.n - 1 ? (void *)&h->list : node(reg.e[i + 1].m);
		next = i == 0 ? (void *)&h->list : node(reg.e[i - 1].m);
	} else {
		prev = (void *)((uintptr_t)m->robust_prev & ~(uintptr_t)1);
		next = m->robust_next;
		if (!prev || !next || *(void **)prev != node(m) ||
		    *__conc_slot_before(next) != node(m))
			goto forget;	/* not linked where it says: leave the list */
	}
	*__conc_slot_before(next) = prev;
	*(void **)prev = next;
	__conc_robust_barrier();
forget:
	if (i >= 0) {
		reg.n--;
		for (; i < (int)reg.n; i++)
			reg.e[i] = reg.e[i + 1];
		reg_count();
	}
	if (!reg.n && h->list.next == &h->list)
		reg.mixed = false;
	m->robust_prev = m->robust_next = NULL;
}

struct robust_list_head *__conc_robust_head(struct __conc_self *s)
{
	struct robust_list_head *h = s->robust;
	size_t len;

	if (h)
		return h;
	if (sys_get_robust_list(0, &h, &len) < 0 || !h) {
		own.head.list.next = &own.head.list;
		own.head.futex_offset = FUTEX_OFFSET;
		own.head.list_op_pending = NULL;
		if (sys_set_robust_list(&own.head, sizeof(own.head)) < 0)
			return NULL;
		h = &own.head;
	}
	if (h->futex_offset != FUTEX_OFFSET)
		return NULL;
	/* First use in this thread, or in a fork child: nothing is held. */
	reg.n = 0;
	reg_count();
	reg.mixed = h->list.next != &h->list;
	s->robust = h;
	return h;
}

static void owner_died(uint32_t *word, pid_t tid)
{
	uint32_t v = __atomic_load_n(word, __ATOMIC_RELAXED);

	do {
		if ((v & FUTEX_TID_MASK) != (uint32_t)tid)
			return;
	} while (!__atomic_compare_exchange_n(word, &v,
					      (v & FUTEX_WAITERS) | FUTEX_OWNER_DIED,
					      0, __ATOMIC_RELEASE, __ATOMIC_RELAXED));
	if (v & FUTEX_WAITERS)
		__conc_wake(word, 1, 0);
}

void (*__conc_robust_released)(pid_t tid);

void __conc_robust_release_all(struct robust_list_head *h, pid_t tid)
{
	struct robust_list *e = h->list.next;
	void (*hook)(pid_t) = __atomic_load_n(&__conc_robust_released, __ATOMIC_ACQUIRE);
	bool held;
	int n = 0;

	/* No head in this process yet, so the registry is not this
	 * process's: a fork child's copy (the child took no robust lock),
	 * naming what the thread that forked holds in the parent, which the
	 * child may have unmapped since. None of it is the child's; the list
	 * (libc emptied it in the child) is walked instead, as the kernel
	 * would. */
	if (!__conc_self()->robust) {
		reg.n = 0;
		reg.mixed = true;
	}
	held = reg.n || e != &h->list || h->list_op_pending;
	look_for_foreign(h);
	while (reg.n)
		owner_died(&reg.e[--reg.n].m->word, tid);
	reg_count();
	if (!reg.mixed)
		e = &h->list;
	reg.mixed = false;
	/* Entries with the low bit set are PI mutexes: not conc's, and not
	 * something a futex word update can release. */
	while (e != &h->list && n++ < ROBUST_LIST_LIMIT) {
		struct robust_list *next = e->next;

		if (!((uintptr_t)e & 1))
			owner_died((uint32_t *)((char *)e + h->futex_offset), tid);
		e = (struct robust_list *)((uintptr_t)next & ~(uintptr_t)1);
	}
	if (h->list_op_pending)
		owner_died((uint32_t *)((char *)h->list_op_pending +
					h->futex_offset), tid);
	h->list.next = &h->list;
	h->list_op_pending = NULL;
	*__conc_slot_before(&h->list) = &h->list;
	if (hook && held)
		hook(tid);
}
