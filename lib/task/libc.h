/*
 * What a raw clone(2) thread needs from the C library it runs under: a TCB
 * and static TLS block of its own, the library told that it is now
 * multi-threaded, per-thread registrations (robust list, rseq) and the
 * per-thread clean-up libc would do at pthread exit. All of it depends on
 * the C library's private layout, so it is checked, never assumed: on any
 * mismatch __conc_libc_check() fails and threads are refused with -ENOTSUP.
 */
#ifndef CONC_TASK_LIBC_H
#define CONC_TASK_LIBC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define __CONC_HIDDEN __attribute__((visibility("hidden")))

/* The private layout conc relies on, per C library version. */
struct __conc_layout {
	const char *version;	/* gnu_get_libc_version() */
	uint32_t sizeof_tcb;	/* struct pthread (_thread_db_sizeof_pthread) */
	uint32_t tid_off;	/* its tid word (_thread_db_pthread_tid) */
	uint32_t dtv_off;	/* header.dtv (_thread_db_pthread_dtvp) */
	uint32_t self_off;	/* header.self (header.tcb is at 0) */
	uint32_t mt_off;	/* header.multiple_threads */
	uint32_t guard_off;	/* header.stack_guard, then pointer_guard */
	uint32_t feature_off;	/* header.feature_1 (CET) */
	uint32_t robust_off;	/* robust_head */
	uint32_t rseq_off;	/* rseq area (__rseq_offset) */
};

/* Verify the running C library against l (or, for NULL, against the
 * layout known for its version). 0, or -ENOTSUP on any mismatch. */
int __conc_libc_verify(const struct __conc_layout *l) __CONC_HIDDEN;

/* Checked once; 0 or -ENOTSUP. */
int __conc_libc_check(void) __CONC_HIDDEN;

/* Bytes for TLS + TCB below the top of a thread's mapping, and the
 * alignment of the thread pointer. */
size_t __conc_libc_tls_bytes(void) __CONC_HIDDEN;

/* Build the TCB and TLS ending at top; returns the thread pointer (NULL:
 * -ENOMEM). */
void *__conc_libc_tcb_create(void *top) __CONC_HIDDEN;
pid_t *__conc_libc_tid_word(void *tp) __CONC_HIDDEN;
void __conc_libc_tcb_destroy(void *tp) __CONC_HIDDEN;

/* In the creating thread, before the first clone. */
void __conc_libc_go_multithreaded(void) __CONC_HIDDEN;

/* In the new thread: first thing; before every reuse; after every run. */
void __conc_libc_thread_enter(void *tp) __CONC_HIDDEN;
void __conc_libc_thread_reset_tls(void) __CONC_HIDDEN;
void __conc_libc_thread_leave(void *tp) __CONC_HIDDEN;

/*
 * Fault injection, compiled only into the test build (CONC_FAULT_INJECTION):
 * each bit skips one safety step, so a test can show its stress test
 * catches the hazard that step prevents.
 */
enum {
	CONC_FI_SHARED_TP	= 1 << 0,	/* no TLS of its own (no CLONE_SETTLS) */
	CONC_FI_SINGLE_THREADED	= 1 << 1,	/* __libc_single_threaded left set */
	CONC_FI_MT_WORD		= 1 << 2,	/* TCB multiple_threads left 0 */
	CONC_FI_IO_LOCKS	= 1 << 3,	/* _IO_enable_locks() not called */
	CONC_FI_POINTER_GUARD	= 1 << 4,	/* pointer guard not copied */
	CONC_FI_CTYPE		= 1 << 5,	/* __ctype_init() not called */
	CONC_FI_RSEQ		= 1 << 6,	/* rseq area not registered */
	CONC_FI_TLS_RESET	= 1 << 7,	/* program TLS kept across reuse */
};
#ifdef CONC_FAULT_INJECTION
extern unsigned __conc_fi;
#define CONC_FI(bit) (__conc_fi & (bit))
#else
#define CONC_FI(bit) 0
#endif

#endif
