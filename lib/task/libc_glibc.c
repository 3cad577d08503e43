/*
 * The glibc adapter for raw threads: glibc 2.34 or later (libpthread merged
 * into libc) on x86_64 and aarch64. glibc's own dynamic linker builds each
 * thread's static TLS and DTV (_dl_allocate_tls, as pthread_create does),
 * so every module's image is copied by the code that owns it; conc fills in
 * the few words of struct pthread that pthread_create would.
 *
 * Nothing here is a per-version table. Each fact comes from:
 *  - glibc's descriptors for debuggers (_thread_db_*, nptl_db/db_info.c,
 *    each {bits, count, offset}): sizeof struct pthread, its tid and list
 *    fields; on aarch64 the distance from the thread pointer back to it
 *    (_thread_db_const_thread_area, what libthread_db subtracts from
 *    TPIDR_EL0), cross-checked with _thread_db_pthread_dtvp;
 *  - ld.so's exports: __rseq_offset/__rseq_size (2.35+; absent on 2.34,
 *    which registers no rseq area) and the static TLS size and alignment
 *    (_dl_get_tls_static_info);
 *  - the kernel: where the main thread's robust list head lies
 *    (get_robust_list); where the kernel keeps none (qemu-user), the head
 *    found by its shape in the main thread's struct pthread;
 *  - the ABI, the only fixed offsets: x86_64's tcbhead_t (TCB_* below;
 *    gcc's -fstack-protector reads %fs:0x28, so glibc cannot move them);
 *    aarch64 keeps its stack and pointer guards in globals, not the TCB;
 *  - public headers: the robust list's futex_offset, from pthread_mutex_t;
 * and all of it is checked against the live calling thread. Any mismatch,
 * or a glibc older than 2.34: -ENOTSUP, with the reason kept for
 * conc_thread_support(3).
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <linux/futex.h>
#include "sys/sys.h"
#include "sys/self.h"
#include "sync/robust.h"
#include "libc.h"

#ifdef CONC_FAULT_INJECTION
unsigned __conc_fi;
#endif

static const char *why;

const char *__conc_libc_why(void)
{
	return why;
}

#if (defined(__x86_64__) || defined(__aarch64__)) && defined(__GLIBC__)
#include <dlfcn.h>
#include <link.h>
#include <locale.h>
#include <gnu/libc-version.h>

#define RSEQ_SIG_X86 0x53053053
#define RSEQ_SIG_ARM64 0xd428bc00	/* both from glibc's bits/rseq.h (2.35+) */
#define RSEQ_AREA 32		/* the kernel's minimum registration length */
#define RSEQ_CPU_ID_REGISTRATION_FAILED (-2)
#define TCB_ALIGN 64		/* struct pthread's declared alignment */

#if defined(__x86_64__)
/* tcbhead_t, sysdeps/x86_64/nptl/tls.h: the start of struct pthread. */
#define TCB_SELF_TCB	0x00	/* tcb: the thread pointer itself */
#define TCB_SELF	0x10	/* self: struct pthread */
#define TCB_MT		0x18	/* multiple_threads (read by 2.36's atomics) */
#define TCB_GUARD	0x28	/* stack_guard, then pointer_guard at +8 */
#define TCB_FEATURE_1	0x48	/* CET feature_1 */
#define RSEQ_SIG RSEQ_SIG_X86

static char *thread_pointer(void)
{
	char *p;

	__asm__("mov %%fs:0, %0" : "=r"(p));
	return p;
}
#else
/* struct pthread, nptl/descr.h: on TLS_DTV_AT_TP targets it begins with
 * header.multiple_threads (what 2.34–2.36 read; later padding). */
#define PD_MT		0x00
#define RSEQ_SIG RSEQ_SIG_ARM64

static char *thread_pointer(void)
{
	char *p;

	__asm__("mrs %0, tpidr_el0" : "=r"(p));
	return p;
}
#endif

static struct {
	struct __conc_layout l;
	long futex_offset;
	void *(*allocate_tls)(void *);
	void (*deallocate_tls)(void *, bool);
	void (*io_enable_locks)(void);
	void (*ctype_init)(void);
	void (*call_tls_dtors)(void);
	char *single[2];
	uint32_t l_tls_offset_off;	/* 0: not exported */
	long resp_off;		/* __resp from the thread pointer; 0: none */
	long state_off;		/* libc's own TLS block from the thread */
	size_t state_len;	/* pointer, and its size; 0: not found */
} g;

static int fail(const char *reason)
{
	why = reason;
	return -ENOTSUP;
}

static void *libc_sym(void *libc, const char *name)
{
	void *p = dlsym(libc, name);

	return p ? p : dlsym(RTLD_DEFAULT, name);
}

/* A _thread_db_* field descriptor: {bits, count, offset}. */
static const uint32_t *descriptor(const char *name, uint32_t bits)
{
	const uint32_t *d = dlsym(RTLD_DEFAULT, name);

	return d && d[0] == bits && d[1] == 1 ? d : NULL;
}

/* What the kernel's robust list entries point at (the mutex's list node)
 * minus the lock word: from the public pthread_mutex_t. */
static long mutex_futex_offset(void)
{
	return (long)offsetof(pthread_mutex_t, __data.__lock) -
	       (long)offsetof(pthread_mutex_t, __data.__list.__next);
}

/* The thread's block, from the thread pointer: [lo, hi). */
static long block_lo(const struct __conc_layout *l)
{
#if defined(__x86_64__)
	return -(long)(l->static_size - l->sizeof_pd);
#else
	return -(long)l->tp_off;
#endif
}

static long block_hi(const struct __conc_layout *l)
{
#if defined(__x86_64__)
	return l->sizeof_pd;
#else
	return l->static_size;
#endif
}

static bool version_ok(void)
{
	const char *v = gnu_get_libc_version();
	char *end;
	unsigned long major = strtoul(v, &end, 10), minor;

	if (*end != '.')
		return false;
	minor = strtoul(end + 1, &end, 10);
	return major > 2 || (major == 2 && minor >= 34);
}

/* The robust list head of the main thread when the kernel keeps none:
 * the one word in struct pthread that points at itself and is followed by
 * the futex offset, with robust_prev (the word before) pointing at it too,
 * as glibc leaves it at start-up while no robust mutex is held. */
static long robust_by_shape(char *pd, uint32_t size)
{
	long found = -1;

	for (uint32_t off = 8; off + 24 <= size; off += 8) {
		char *h = pd + off;

		if (*(char **)h == h && *(char **)(h - 8) == h &&
		    *(long *)(h + 8) == g.futex_offset) {
			if (found >= 0)
				return -1;
			found = off;
		}
	}
	return found;
}

/*
 * Where the thread's pointer to its resolver state (__resp: what _res,
 * res_init(3) and getaddrinfo(3)'s DNS look-ups use) lies, from the thread
 * pointer: libc's initial-exec TLS, at the same offset in every thread.
 * Its TLS image points it at the global _res; pthread_create points each
 * new thread at its own (start_thread: __resp = &pd->res). 0 if glibc
 * does not export it (a thread then shares main's, as it did before).
 */
static long resp_offset(const struct __conc_layout *l, char *tp)
{
	void *libc = dlopen("libc.so.6", RTLD_LAZY | RTLD_NOLOAD);
	char *p = libc ? dlsym(libc, "__resp") : NULL;

	if (libc)
		dlclose(libc);
	if (!p || p < tp + block_lo(l) ||
	    p + sizeof(void *) > tp + block_hi(l) || p == tp)
		return 0;
	return p - tp;
}

/* libc's own block among the modules' TLS blocks of the calling thread:
 * the one errno lies in. Being libc's, it is static TLS, at the same
 * offset from the thread pointer in every thread. */
static int find_state(struct dl_phdr_info *info, size_t size, void *layout)
{
	const struct __conc_layout *l = layout;
	const ElfW(Phdr) *ph;
	char *b = info->dlpi_tls_data, *tp = thread_pointer();
	char *err = (char *)&errno;

	(void)size;
	for (ph = info->dlpi_phdr; ph < info->dlpi_phdr + info->dlpi_phnum; ph++) {
		if (ph->p_type != PT_TLS || !b || err < b ||
		    err >= b + ph->p_memsz)
			continue;
		if (b >= tp + block_lo(l) && b + ph->p_memsz <= tp + block_hi(l)) {
			g.state_off = b - tp;
			g.state_len = ph->p_memsz;
		}
		return 1;
	}
	return 0;
}

static int find_symbols(void)
{
	void *libc = dlopen("libc.so.6", RTLD_LAZY | RTLD_NOLOAD);

	if (!libc)
		return fail("libc.so.6 is not loaded (static program?)");
	g.allocate_tls = (void *(*)(void *))dlsym(RTLD_DEFAULT, "_dl_allocate_tls");
	g.deallocate_tls = (void (*)(void *, bool))dlsym(RTLD_DEFAULT,
							  "_dl_deallocate_tls");
	g.io_enable_locks = (void (*)(void))libc_sym(libc, "_IO_enable_locks");
	g.ctype_init = (void (*)(void))libc_sym(libc, "__ctype_init");
	g.call_tls_dtors = (void (*)(void))libc_sym(libc, "__call_tls_dtors");
	/* The program may hold a copy-relocated duplicate of libc's flag;
	 * libc itself reads its own (the handle's lookup finds libc's). */
	g.single[0] = dlsym(libc, "__libc_single_threaded");
	g.single[1] = dlsym(RTLD_DEFAULT, "__libc_single_threaded");
	dlclose(libc);
	if (!g.allocate_tls || !g.deallocate_tls || !g.io_enable_locks ||
	    !g.ctype_init || !g.call_tls_dtors || !g.single[0])
		return fail("a private glibc entry point is missing");
	g.futex_offset = mutex_futex_offset();
	{
		const uint32_t *d = descriptor("_thread_db_link_map_l_tls_offset", 64);

		g.l_tls_offset_off = d ? d[2] : 0;
	}
	return 0;
}

int __conc_libc_layout(struct __conc_layout *l)
{
	void (*get_static)(size_t *, size_t *);
	const uint32_t *sz, *tid, *list;
	const long *rseq_off;
	const unsigned *rseq_size;
	struct robust_list_head *h;
	size_t len, size, align;
	char *tp = thread_pointer(), *pd;
	long off;
	int r;

	memset(l, 0, sizeof(*l));
	if (!version_ok())
		return fail("glibc older than 2.34");
	r = find_symbols();
	if (r)
		return r;
	sz = dlsym(RTLD_DEFAULT, "_thread_db_sizeof_pthread");
	tid = descriptor("_thread_db_pthread_tid", 32);
	list = descriptor("_thread_db_pthread_list", 128);
	if (!sz || !tid || !list)
		return fail("glibc's _thread_db descriptors are missing");
	l->sizeof_pd = *sz;
	l->tid_off = tid[2];
	l->list_off = list[2];
#if defined(__aarch64__)
	{
		const uint32_t *area = dlsym(RTLD_DEFAULT,
					     "_thread_db_const_thread_area");

		if (!area)
			return fail("_thread_db_const_thread_area is missing");
		l->tp_off = *area;
	}
#endif
	pd = tp - l->tp_off;
	if (sys_get_robust_list(0, &h, &len) == 0) {
		off = (char *)h - pd;
		if (off < 0 || off > (long)l->sizeof_pd)
			return fail("the robust list head is outside struct pthread");
	} else {
		off = robust_by_shape(pd, l->sizeof_pd);
		if (off < 0)
			return fail("no robust list head found in struct pthread");
	}
	l->robust_off = (uint32_t)off;
	/* 2.34 has no rseq area: the symbols are 2.35's. */
	rseq_off = dlsym(RTLD_DEFAULT, "__rseq_offset");
	rseq_size = dlsym(RTLD_DEFAULT, "__rseq_size");
	if (rseq_off && rseq_size) {
		l->rseq_off = (int32_t)*rseq_off;
		l->rseq_size = *rseq_size;
	}
	get_static = (void (*)(size_t *, size_t *))dlsym(RTLD_DEFAULT,
						"_dl_get_tls_static_info");
	if (!get_static)
		return fail("_dl_get_tls_static_info is missing");
	get_static(&size, &align);
	if (size > (1u << 24) || align > 4096 || !align || (align & (align - 1)))
		return fail("implausible static TLS size or alignment");
	l->static_size = (uint32_t)size;
	l->align = align < TCB_ALIGN ? TCB_ALIGN : (uint32_t)align;
	r = __conc_libc_verify(l);
	if (!r) {
		g.resp_off = resp_offset(l, tp);
		dl_iterate_phdr(find_state, l);
	}
	return r;
}

int __conc_libc_verify(const struct __conc_layout *l)
{
	const uint32_t *sz, *tid, *list, *dtvp;
	const long *rseq_off;
	const unsigned *rseq_size;
	struct robust_list_head *h;
	char *tp = thread_pointer(), *pd = tp - l->tp_off;
	void (*get_static)(size_t *, size_t *);
	char *err = (char *)&errno;
	size_t len, size, align;
	int mt;

	if (!version_ok())
		return fail("glibc older than 2.34");
	if (!g.allocate_tls && find_symbols())
		return -ENOTSUP;
	sz = dlsym(RTLD_DEFAULT, "_thread_db_sizeof_pthread");
	tid = descriptor("_thread_db_pthread_tid", 32);
	list = descriptor("_thread_db_pthread_list", 128);
	if (!sz || *sz != l->sizeof_pd || l->sizeof_pd % TCB_ALIGN ||
	    !tid || tid[2] != l->tid_off || l->tid_off + 4 > l->sizeof_pd ||
	    !list || list[2] != l->list_off || l->list_off + 16 > l->sizeof_pd)
		return fail("struct pthread differs from glibc's descriptors");
#if defined(__x86_64__)
	/* Variant II: struct pthread is at the thread pointer, tcbhead_t
	 * first; the DTV is header.dtv. */
	dtvp = descriptor("_thread_db_pthread_dtvp", 64);
	if (l->tp_off != 0 || !dtvp || dtvp[2] != 8 ||
	    *(char **)(tp + TCB_SELF_TCB) != tp || *(char **)(tp + TCB_SELF) != tp ||
	    !*(void **)(tp + 8))
		return fail("the x86_64 TCB header is not where the ABI puts it");
	mt = *(int *)(tp + TCB_MT);
#else
	/* Variant I: tcbhead_t {dtv, private} at the thread pointer, struct
	 * pthread (TLS_PRE_TCB_SIZE bytes) right below it. */
	{
		const uint32_t *area = dlsym(RTLD_DEFAULT,
					     "_thread_db_const_thread_area");

		dtvp = descriptor("_thread_db_pthread_dtvp", 64);
		if (!area || *area != l->tp_off || l->tp_off != l->sizeof_pd ||
		    !dtvp || dtvp[2] != l->tp_off || !*(void **)tp)
			return fail("the aarch64 TCB is not where the descriptors say");
	}
	mt = *(int *)(pd + PD_MT);
#endif
	if (mt != 0 && mt != 1)
		return fail("the multiple_threads word is not a flag");
	/* The live thread must look the way the layout says. */
	if (*(pid_t *)(pd + l->tid_off) != sys_gettid())
		return fail("the tid word does not hold the thread's id");
	/* fork() in a thread unlinks the thread's own list node in the
	 * child: glibc keeps the main thread's linked. */
	if (!((void **)(pd + l->list_off))[0] || !((void **)(pd + l->list_off))[1])
		return fail("the list node of the main thread is not linked");
	if (l->robust_off < 8 || l->robust_off + 24 > l->sizeof_pd ||
	    *(long *)(pd + l->robust_off + 8) != g.futex_offset)
		return fail("the robust list head is not where the layout says");
	if (sys_get_robust_list(0, &h, &len) == 0 &&
	    (char *)h != pd + l->robust_off)
		return fail("the kernel's robust list head differs");
	/* The rseq area (if any) and errno (libc's initial-exec TLS) lie in
	 * the block conc allocates per thread. */
	get_static = (void (*)(size_t *, size_t *))dlsym(RTLD_DEFAULT,
						"_dl_get_tls_static_info");
	if (!get_static)
		return fail("_dl_get_tls_static_info is missing");
	get_static(&size, &align);
	if (size != l->static_size || l->align < align || l->align % align ||
	    l->align < TCB_ALIGN || l->align > 4096 ||
	    block_hi(l) - block_lo(l) <= (long)l->sizeof_pd)
		return fail("the static TLS size or alignment differs");
	rseq_off = dlsym(RTLD_DEFAULT, "__rseq_offset");
	rseq_size = dlsym(RTLD_DEFAULT, "__rseq_size");
	if (!rseq_off != !rseq_size ||
	    (rseq_off && (*rseq_off != l->rseq_off || *rseq_size != l->rseq_size)) ||
	    (!rseq_off && (l->rseq_off || l->rseq_size)))
		return fail("the rseq area differs from __rseq_offset/__rseq_size");
	if (rseq_off) {
		if (l->rseq_off < block_lo(l) ||
		    l->rseq_off + RSEQ_AREA > block_hi(l) || l->rseq_off % 32)
			return fail("the rseq area is outside the thread's block");
		if (l->rseq_size && *(int32_t *)(tp + l->rseq_off + 4) < 0)
			return fail("glibc's rseq registration is not live");
	}
	if (err < tp + block_lo(l) || err + sizeof(int) > tp + block_hi(l))
		return fail("errno is not in the static TLS block");
	return 0;
}

int __conc_libc_check(void)
{
	/* 1: not checked; 0 or -ENOTSUP: the answer. */
	static int state = 1;
	int r = __atomic_load_n(&state, __ATOMIC_ACQUIRE);

	if (r == 1) {
		r = __conc_libc_layout(&g.l);
		if (!r)
			why = NULL;
		__atomic_store_n(&state, r, __ATOMIC_RELEASE);
	}
	return r;
}

/* The bytes a thread's resolver state takes, rounded to a cache line. */
static size_t res_bytes(void)
{
	return (__conc_libc_res_size() + 63) & ~(size_t)63;
}

size_t __conc_libc_tls_bytes(void)
{
	return (size_t)(block_hi(&g.l) - block_lo(&g.l)) + g.l.align + res_bytes();
}

/* The thread's own resolver state, in the bytes tls_bytes() keeps for it
 * below the block. */
static void *res_of(void *tp)
{
	return (void *)(((uintptr_t)tp + block_lo(&g.l) - res_bytes()) &
			~(uintptr_t)63);
}

void *__conc_libc_tcb_create(void *top)
{
	const struct __conc_layout *l = &g.l;
	char *tp = (char *)(((uintptr_t)top - block_hi(l)) & ~(uintptr_t)(l->align - 1));
	char *pd = tp - l->tp_off;
	struct robust_list_head *h;
	char *node;

	memset(tp + block_lo(l), 0, (size_t)(block_hi(l) - block_lo(l)));
	memset(res_of(tp), 0, __conc_libc_res_size());
	/* Fills in the DTV (header.dtv, or tcbhead_t at the thread pointer)
	 * and copies every module's TLS image. */
	if (!g.allocate_tls(tp))
		return NULL;
#if defined(__x86_64__)
	{
		char *cur = thread_pointer();

		*(char **)(tp + TCB_SELF_TCB) = tp;
		*(char **)(tp + TCB_SELF) = tp;
		if (!CONC_FI(CONC_FI_MT_WORD))
			*(int *)(tp + TCB_MT) = 1;
		*(uintptr_t *)(tp + TCB_GUARD) = *(uintptr_t *)(cur + TCB_GUARD);
		if (!CONC_FI(CONC_FI_POINTER_GUARD))
			*(uintptr_t *)(tp + TCB_GUARD + 8) =
				*(uintptr_t *)(cur + TCB_GUARD + 8);
		*(uint32_t *)(tp + TCB_FEATURE_1) = *(uint32_t *)(cur + TCB_FEATURE_1);
	}
#else
	if (!CONC_FI(CONC_FI_MT_WORD))
		*(int *)(pd + PD_MT) = 1;
#endif
	node = pd + l->list_off;
	((void **)node)[0] = node;
	((void **)node)[1] = node;
	h = (struct robust_list_head *)(pd + l->robust_off);
	h->list.next = &h->list;
	h->futex_offset = g.futex_offset;
	h->list_op_pending = NULL;
	*((void **)h - 1) = h;		/* robust_prev, as glibc sets it */
	return tp;
}

pid_t *__conc_libc_tid_word(void *tp)
{
	return (pid_t *)((char *)tp - g.l.tp_off + g.l.tid_off);
}

void __conc_libc_tcb_destroy(void *tp)
{
	g.deallocate_tls(tp, false);
}

void __conc_libc_go_multithreaded(void)
{
	static int done;

	if (!CONC_FI(CONC_FI_MT_WORD)) {
#if defined(__x86_64__)
		*(int *)(thread_pointer() + TCB_MT) = 1;
#else
		*(int *)(thread_pointer() - g.l.tp_off + PD_MT) = 1;
#endif
	}
	if (__atomic_exchange_n(&done, 1, __ATOMIC_ACQ_REL))
		return;
	if (!CONC_FI(CONC_FI_SINGLE_THREADED)) {
		*g.single[0] = 0;
		if (g.single[1])
			*g.single[1] = 0;
	}
	if (!CONC_FI(CONC_FI_IO_LOCKS))
		g.io_enable_locks();
}

void __conc_libc_thread_enter(void *tp)
{
	char *pd = (char *)tp - g.l.tp_off;
	char *rseq = (char *)tp + g.l.rseq_off;
	/* glibc registers max(__rseq_size, 32) bytes (the kernel's minimum). */
	unsigned len = g.l.rseq_size > RSEQ_AREA ? g.l.rseq_size : RSEQ_AREA;

	/* qemu-user refuses robust lists: the list is then conc's own. */
	sys_set_robust_list((struct robust_list_head *)(pd + g.l.robust_off),
			    sizeof(struct robust_list_head));
	if (g.l.rseq_off || g.l.rseq_size) {
		if (!CONC_FI(CONC_FI_RSEQ) &&
		    (!g.l.rseq_size ||
		     __CONC_SC(SYS_rseq, rseq, len, 0, RSEQ_SIG) < 0))
			*(int32_t *)(rseq + 4) = RSEQ_CPU_ID_REGISTRATION_FAILED;
	}
	if (!CONC_FI(CONC_FI_CTYPE))
		g.ctype_init();
	if (g.resp_off)
		*(void **)((char *)tp + g.resp_off) = res_of(tp);
}

/*
 * A module glibc placed in the static TLS block after this thread was made
 * (dlopen of a library with initial-exec TLS, or on aarch64 of any TLSDESC
 * library while the static surplus lasts) is not in the thread's DTV, so
 * dl_iterate_phdr gives no block for it, and glibc initialises it only in
 * the threads it knows. Its static offset, link_map.l_tls_offset (at
 * _thread_db_link_map_l_tls_offset), finds it from the thread pointer.
 */
static char *static_block(const struct dl_phdr_info *info, size_t memsz)
{
	const struct link_map *l;
	char *tp = thread_pointer(), *b;
	long off;

	if (!g.l_tls_offset_off)
		return NULL;
	for (l = _r_debug.r_map; l; l = l->l_next)
		if (l->l_addr == info->dlpi_addr && l->l_name &&
		    !strcmp(l->l_name, info->dlpi_name))
			break;
	if (!l)
		return NULL;
	off = *(const long *)((const char *)l + g.l_tls_offset_off);
	if (off == 0 || off == -1)	/* NO_TLS_OFFSET, FORCED_DYNAMIC_TLS_OFFSET */
		return NULL;
#if defined(__x86_64__)
	b = tp - off;
#else
	b = tp + off;
#endif
	if (b < tp + block_lo(&g.l) || b + memsz > tp + block_hi(&g.l))
		return NULL;
	return b;
}

/* A reused thread starts with the program's TLS as new: every module's
 * block but libc's (whose per-thread state, malloc's cache among it, is
 * what reuse keeps instead of leaking) is copied again from its image. */
static int reset_module(struct dl_phdr_info *info, size_t size, void *errp)
{
	const ElfW(Phdr) *ph;
	char *block;

	(void)size;
	for (ph = info->dlpi_phdr; ph < info->dlpi_phdr + info->dlpi_phnum; ph++) {
		if (ph->p_type != PT_TLS)
			continue;
		block = info->dlpi_tls_data;
		if (!block)
			block = static_block(info, ph->p_memsz);
		if (!block)
			return 0;
		if ((char *)errp >= block && (char *)errp < block + ph->p_memsz)
			return 0;
		memcpy(block, (char *)info->dlpi_addr + ph->p_vaddr, ph->p_filesz);
		memset(block + ph->p_filesz, 0, ph->p_memsz - ph->p_filesz);
	}
	return 0;
}

void __conc_libc_thread_reset_tls(void)
{
	if (!CONC_FI(CONC_FI_TLS_RESET))
		dl_iterate_phdr(reset_module, &errno);
	/* The last job's uselocale() must not follow into the next one. */
	uselocale(LC_GLOBAL_LOCALE);
}

size_t __conc_libc_state_size(void)
{
	return g.state_len;
}

void __conc_libc_state_save(void *buf)
{
	/* A locale the last job used may be freed by the time the state is
	 * taken up again. */
	uselocale(LC_GLOBAL_LOCALE);
	memcpy(buf, thread_pointer() + g.state_off, g.state_len);
}

/* As a parked thread keeps its own (reset_module): the next thread goes on
 * with the cache where the last left it, and nothing is lost. */
void __conc_libc_state_adopt(void *tp, const void *buf)
{
	memcpy((char *)tp + g.state_off, buf, g.state_len);
}

void __conc_libc_thread_leave(void *tp)
{
	g.call_tls_dtors();
	/* The next function on this thread starts with a resolver state never
	 * set up, as a new pthread's. */
	if (g.resp_off)
		__conc_libc_res_forget(res_of(tp));
	__conc_robust_release_all((struct robust_list_head *)
				  ((char *)tp - g.l.tp_off + g.l.robust_off),
				  __conc_self()->tid);
}

#else /* not glibc on x86_64 or aarch64: no raw threads */

/* musl, for one, has no exported way to build a thread's TLS and TCB and
 * keeps its thread list private: threads there are refused. */
int __conc_libc_layout(struct __conc_layout *l)
{
	memset(l, 0, sizeof(*l));
	why = "not glibc on x86_64 or aarch64";
	return -ENOTSUP;
}

int __conc_libc_verify(const struct __conc_layout *l)
{
	(void)l;
	why = "not glibc on x86_64 or aarch64";
	return -ENOTSUP;
}

int __conc_libc_check(void)
{
	why = "not glibc on x86_64 or aarch64";
	return -ENOTSUP;
}

size_t __conc_libc_tls_bytes(void) { return 0; }
size_t __conc_libc_state_size(void) { return 0; }
void __conc_libc_state_save(void *buf) { (void)buf; }
void __conc_libc_state_adopt(void *tp, const void *buf) { (void)tp; (void)buf; }
void *__conc_libc_tcb_create(void *top) { (void)top; return NULL; }
pid_t *__conc_libc_tid_word(void *tp) { return tp; }
void __conc_libc_tcb_destroy(void *tp) { (void)tp; }
void __conc_libc_go_multithreaded(void) {}
void __conc_libc_thread_enter(void *tp) { (void)tp; }
void __conc_libc_thread_reset_tls(void) {}
void __conc_libc_thread_leave(void *tp) { (void)tp; }

#endif
