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

/*
 * The private layout conc relies on, derived at run time (see
 * libc_glibc.c for where each fact comes from). Offsets are from the start
 * of glibc's struct pthread (pd) unless said otherwise.
 */
struct __conc_layout {
	uint32_t sizeof_pd;	/* struct pthread (_thread_db_sizeof_pthread) */
	uint32_t tp_off;	/* thread pointer - pd: 0 on x86_64 (TLS variant
				 * II), sizeof_pd on aarch64 (variant I) */
	uint32_t tid_off;	/* its tid word (_thread_db_pthread_tid) */
	uint32_t list_off;	/* its list node (_thread_db_pthread_list) */
	uint32_t robust_off;	/* robust_head (the main thread's, as the kernel
				 * or its shape tells) */
	int32_t rseq_off;	/* rseq area, from the thread pointer
				 * (__rseq_offset) */
	uint32_t rseq_size;	/* __rseq_size: 0 when glibc registered none */
	uint32_t static_size;	/* static TLS (_dl_get_tls_static_info) */
	uint32_t align;		/* and its alignment */
};

/* Derive the running C library's layout into l: 0, or -ENOTSUP (and the
 * reason in __conc_libc_why()). */
int __conc_libc_layout(struct __conc_layout *l) __CONC_HIDDEN;

/* Verify l against the running C library and the live calling thread
 * (glibc's descriptors, the kernel, the ABI): 0, or -ENOTSUP on any
 * mismatch. */
int __conc_libc_verify(const struct __conc_layout *l) __CONC_HIDDEN;

/* Derived and verified once; 0 or -ENOTSUP. */
int __conc_libc_check(void) __CONC_HIDDEN;

/* After __conc_libc_check() failed: why, in a few words; NULL if it
 * passed or was not run. */
const char *__conc_libc_why(void) __CONC_HIDDEN;

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

/* The C library's own per-thread state: its TLS block (malloc's cache and
 * arena, errno, the last dlerror, strerror's buffer), which glibc frees
 * only when a thread pthread_create made ends. Its size (0: not found); a
 * copy of the calling thread's, taken when it will call libc no more, its
 * locale set back to the global one; and that copy put into a thread not
 * yet started, whose thread pointer is tp, instead of a fresh state. */
size_t __conc_libc_state_size(void) __CONC_HIDDEN;
void __conc_libc_state_save(void *buf) __CONC_HIDDEN;
void __conc_libc_state_adopt(void *tp, const void *buf) __CONC_HIDDEN;

/* A thread's resolver state (libc_res.c): its size, and closing it and
 * zeroing it, a state never set up again. */
size_t __conc_libc_res_size(void) __CONC_HIDDEN;
void __conc_libc_res_forget(void *res) __CONC_HIDDEN;

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
