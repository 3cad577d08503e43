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
		sys_futex_wake(word, 1, 0);
}

void __conc_robust_release_all(struct robust_list_head *h, pid_t tid)
{
	struct robust_list *e = h->list.next;
	int n = 0;

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
}
