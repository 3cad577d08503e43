/*
 * Shared-stack mode: a suspended task's used stack [sp, hi) lives in a heap
 * buffer of about its size, and goes back to the same addresses before the
 * task resumes, so pointers into the task's own stack stay right.
 *
 * Under ASan the copy must not read through the instrumented memcpy: the
 * used stack holds the redzones between a frame's variables, poisoned in
 * the shadow. The shadow of the shared stack is cleared when a task leaves
 * it, so the next task does not trip on the last one's redzones.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "loop/coro.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>

__attribute__((no_sanitize_address, optimize("no-tree-loop-distribute-patterns")))
static void copy(void *dst, const void *src, size_t len)
{
	/* 16-byte aligned both ways: sp and hi are */
	uint64_t *d = dst;
	const uint64_t *s = src;

	for (size_t i = 0; i < len / 8; i++)
		d[i] = s[i];
}

static void unpoison(void *p, size_t len)
{
	__asan_unpoison_memory_region(p, len);
}
#else
#define copy memcpy
static void unpoison(void *p, size_t len)
{
	(void)p;
	(void)len;
}
#endif

/* Buffers grow to fit and shrink when they are more than twice too big,
 * so 100,000 idle tasks cost what each one uses, give or take 256 bytes. */
int __conc_sstack_save(struct __conc_saved_stack *sv, const struct __conc_stack *shared,
		       const void *sp)
{
	const char *p = sp;
	size_t len;

	if (!sv || !shared || p < shared->lo || p > shared->hi ||
	    ((uintptr_t)p & 15) || ((uintptr_t)shared->hi & 15))
		return -EINVAL;
	len = (size_t)(shared->hi - p);
	if (len > sv->cap || sv->cap > 2 * len + 256) {
		size_t cap = (len + 63) & ~(size_t)63;
		void *b = realloc(sv->buf, cap ? cap : 64);

		if (b) {
			sv->buf = b;
			sv->cap = cap ? cap : 64;
		} else if (len > sv->cap) {
			return -ENOMEM;
		}
	}
	copy(sv->buf, p, len);
	sv->len = len;
	unpoison((void *)p, len);
	return 0;
}

void __conc_sstack_restore(const struct __conc_saved_stack *sv,
			   const struct __conc_stack *shared)
{
	if (sv->len && sv->len <= (size_t)(shared->hi - shared->lo))
		copy(shared->hi - sv->len, sv->buf, sv->len);
}

void __conc_sstack_free(struct __conc_saved_stack *sv)
{
	if (!sv)
		return;
	free(sv->buf);
	sv->buf = NULL;
	sv->len = sv->cap = 0;
}
