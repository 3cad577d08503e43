/*
 * Coroutine stacks, inside: size classes, slabs, guards (see coro.h for
 * the limits). A slot is [guard][stack]; a slab is n slots in one mapping.
 */
#ifndef CONC_LOOP_STACK_IMPL_H
#define CONC_LOOP_STACK_IMPL_H

#include <stddef.h>
#include "loop/coro.h"

#define STACK_DEFAULT	((size_t)64 << 10)
#define STACK_MAX	((size_t)1 << 30)
#define STACK_CLASS_MIN	14		/* 16 KiB */
#define STACK_NCLASS	5		/* 16, 32, 64, 128, 256 KiB: slabbed */
#define STACK_SLAB_MAX	((size_t)1 << (STACK_CLASS_MIN + STACK_NCLASS - 1))
#define STACK_SLAB_BYTES ((size_t)8 << 20)	/* address space per slab */
#define STACK_CANARY	0x636f6e63206f7666ull	/* where no guard is */

/* Tags kept in __conc_stack.slab: slab stacks of class c, guarded or not
 * (&__conc_stack_tag[c][guarded]); other stacks keep their own mapping. */
extern const char __conc_stack_tag[STACK_NCLASS][2]
	__attribute__((visibility("hidden")));

size_t __conc_stack_page(void) __attribute__((visibility("hidden")));
/* Guard size: 16 KiB (or a page, if larger), so that a frame of a few KiB
 * that steps over the stack's end still lands in it. */
size_t __conc_stack_guard(void) __attribute__((visibility("hidden")));

/* How a slab's guards are made: none (canaries), in the page tables, or
 * with mprotect (two mappings a stack, out of a budget). */
enum { STACK_GUARD_NONE, STACK_GUARD_MADV, STACK_GUARD_MPROT };

/* Map a slab of stacks of size bytes each: its base and slot count in
 * *n; *how says how the guards are made; warm: many stacks are in use,
 * fill the top page of each now. NULL if no memory. Slot k's stack
 * starts at base + k * (guard + size) + guard. */
char *__conc_stack_slab(size_t size, size_t *n, int *how, int warm)
	__attribute__((visibility("hidden")));
/* Give the same advice to n ranges of len bytes, stride apart from first,
 * in one call where the kernel can (6.13): how many, from the first on,
 * were advised; 0 where it cannot (then go range by range). */
size_t __conc_stack_advise(char *first, size_t stride, size_t len, size_t n,
			   int advice) __attribute__((visibility("hidden")));
/* Slabs of class c mapped now (noted ones). */
size_t __conc_stack_slabs_of(int c) __attribute__((visibility("hidden")));
/* Unmap len bytes of slabs, whose mprotected stacks go back to the
 * mprotect budget. */
void __conc_stack_unslab(char *base, size_t len, size_t mprotected)
	__attribute__((visibility("hidden")));
/* One stack with its own mapping (sizes above the slabbed classes). */
int __conc_stack_map(struct __conc_stack *s, size_t size)
	__attribute__((visibility("hidden")));

/* Free stacks: lo of each, the newest last. */
struct stack_list {
	char **v;
	size_t n, cap;
};

/* A thread keeps this many free stacks of a class at most; beyond, the
 * oldest half goes to the process-wide pool. */
#define STACK_CACHE_MAX 256

int __conc_stack_reserve(struct stack_list *l, size_t more)
	__attribute__((visibility("hidden")));
/* The k oldest of l (class c, guarded g) to the pool; clean: their memory
 * given back to the kernel first. */
void __conc_stack_pool_give(struct stack_list *l, size_t k, int c, int g, int clean)
	__attribute__((visibility("hidden")));
/* Up to k stacks of the pool into l (those with memory first): how many. */
size_t __conc_stack_pool_take(struct stack_list *l, size_t k, int c, int g)
	__attribute__((visibility("hidden")));
/* Give back the memory of the stacks in the pool, but for the newest
 * keep_bytes' worth of each class; and how many stacks of class c that is. */
void __conc_stack_pool_clean(size_t keep_bytes) __attribute__((visibility("hidden")));
size_t __conc_stack_keep(int c, size_t keep_bytes) __attribute__((visibility("hidden")));
/* The pool's lock, and its list of class c, guarded g, clean or not. */
void __conc_stack_pool_lock(void) __attribute__((visibility("hidden")));
void __conc_stack_pool_unlock(void) __attribute__((visibility("hidden")));
struct stack_list *__conc_stack_pool_list(int c, int g, int clean)
	__attribute__((visibility("hidden")));

/* Remember a new slab (under the pool's lock), so that it can be unmapped
 * once all its stacks are back in the pool (stack_release.c). */
void __conc_stack_slab_note(char *base, size_t n, int c, int how)
	__attribute__((visibility("hidden")));

/* Test hooks: forget MADV_GUARD_INSTALL, and set the number of stacks
 * guarded with mprotect (which costs two mappings each). */
void __conc_stack_test_limits(int no_madv_guard, long mprotect_budget)
	__attribute__((visibility("hidden")));

#endif
