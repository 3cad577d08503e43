/*
 * The glibc adapter for raw threads (x86_64, TLS variant II: the static TLS
 * block lies below the thread pointer, which points at struct pthread).
 * glibc's own dynamic linker builds each thread's TLS and DTV
 * (_dl_allocate_tls, as pthread_create does), so the images of every module
 * are copied by the code that owns them; conc fills in the few TCB words
 * pthread_create would, at offsets taken from a table per glibc version and
 * cross-checked at run time against glibc's exported debugger descriptors
 * (_thread_db_*) and against the live main thread.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <linux/futex.h>
#include "sys/sys.h"
#include "sys/self.h"
#include "sync/robust.h"
#include "libc.h"

#ifdef CONC_FAULT_INJECTION
unsigned __conc_fi;
#endif

#if defined(__x86_64__) && defined(__GLIBC__)
#include <dlfcn.h>
#include <link.h>
#include <locale.h>
#include <gnu/libc-version.h>

#define RSEQ_SIG 0x53053053
#define RSEQ_AREA 32		/* what the kernel accepts; glibc reserves it */
#define RSEQ_CPU_ID_REGISTRATION_FAILED (-2)

static const struct __conc_layout known[] = {
	/* Debian 12 (2.36-9+deb12u*), checked on this and nothing else. */
	{ "2.36", 0x940, 0x2d0, 0x8, 0x10, 0x18, 0x28, 0x48, 0x2e0, 0x920 },
};

static struct {
	const struct __conc_layout *l;
	size_t static_size, align;
	uint32_t list_off;
	long futex_offset;
	unsigned rseq_size;
	void *(*allocate_tls)(void *);
	void (*deallocate_tls)(void *, bool);
	void (*io_enable_locks)(void);
	void (*ctype_init)(void);
	void (*call_tls_dtors)(void);
	char *single[2];
} g;

static char *thread_pointer(void)
{
	char *p;

	__asm__("mov %%fs:0, %0" : "=r"(p));
	return p;
}

static void *libc_sym(void *libc, const char *name)
{
	void *p = dlsym(libc, name);

	return p ? p : dlsym(RTLD_DEFAULT, name);
}

static bool descriptor(const char *name, uint32_t bits, uint32_t off)
{
	const uint32_t *d = dlsym(RTLD_DEFAULT, name);

	return d && d[0] == bits && d[1] == 1 && d[2] == off;
}

int __conc_libc_verify(const struct __conc_layout *l)
{
	struct robust_list_head *h;
	const uint32_t *sz, *list;
	char *tp = thread_pointer();
	size_t len;
	void *libc;
	const long *rseq_off;
	const unsigned *rseq_size;
	void (*get_static)(size_t *, size_t *);
	char *err = (char *)&errno;
	int mt;

	if (!l) {
		for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
			if (!strcmp(gnu_get_libc_version(), known[i].version))
				l = &known[i];
		if (!l)
			return -ENOTSUP;
	}
	if (strcmp(gnu_get_libc_version(), l->version))
		return -ENOTSUP;
	sz = dlsym(RTLD_DEFAULT, "_thread_db_sizeof_pthread");
	if (!sz || *sz != l->sizeof_tcb ||
	    !descriptor("_thread_db_pthread_tid", 32, l->tid_off) ||
	    !descriptor("_thread_db_pthread_dtvp", 64, l->dtv_off))
		return -ENOTSUP;
	/* fork() in a thread unlinks the thread's own list node in the
	 * child: the node must exist, and be a valid (self-linked) list. */
	list = dlsym(RTLD_DEFAULT, "_thread_db_pthread_list");
	if (!list || list[0] != 128 || list[1] != 1 ||
	    list[2] + 16 > l->sizeof_tcb)
		return -ENOTSUP;
	/* The live thread must look the way the table says. */
	if (*(char **)tp != tp || *(char **)(tp + l->self_off) != tp ||
	    *(pid_t *)(tp + l->tid_off) != sys_gettid() ||
	    !*(void **)(tp + l->dtv_off))
		return -ENOTSUP;
	mt = *(int *)(tp + l->mt_off);
	if (mt != 0 && mt != 1)
		return -ENOTSUP;
	if (sys_get_robust_list(0, &h, &len) < 0 ||
	    (char *)h != tp + l->robust_off || h->futex_offset != -32)
		return -ENOTSUP;
	libc = dlopen("libc.so.6", RTLD_LAZY | RTLD_NOLOAD);
	if (!libc)
		return -ENOTSUP;
	rseq_off = dlsym(libc, "__rseq_offset");
	rseq_size = dlsym(libc, "__rseq_size");
	get_static = (void (*)(size_t *, size_t *))dlsym(RTLD_DEFAULT,
						"_dl_get_tls_static_info");
	g.allocate_tls = (void *(*)(void *))dlsym(RTLD_DEFAULT, "_dl_allocate_tls");
	g.deallocate_tls = (void (*)(void *, bool))dlsym(RTLD_DEFAULT,
							  "_dl_deallocate_tls");
	g.io_enable_locks = (void (*)(void))libc_sym(libc, "_IO_enable_locks");
	g.ctype_init = (void (*)(void))libc_sym(libc, "__ctype_init");
	g.call_tls_dtors = (void (*)(void))libc_sym(libc, "__call_tls_dtors");
	g.single[0] = dlsym(libc, "__libc_single_threaded");
	g.single[1] = dlsym(RTLD_DEFAULT, "__libc_single_threaded");
	dlclose(libc);
	if (!rseq_off || !rseq_size || *rseq_off != (long)l->rseq_off ||
	    (*rseq_size && *rseq_size < 20) || !get_static || !g.allocate_tls ||
	    !g.deallocate_tls || !g.io_enable_locks || !g.ctype_init ||
	    !g.call_tls_dtors || !g.single[0])
		return -ENOTSUP;
	if (*rseq_size && *(int32_t *)(tp + l->rseq_off + 4) < 0)
		return -ENOTSUP;
	get_static(&g.static_size, &g.align);
	if (g.static_size <= l->sizeof_tcb || !g.align ||
	    (g.align & (g.align - 1)) || g.align > 4096)
		return -ENOTSUP;
	/* errno is libc's initial-exec TLS: it must sit in the static block. */
	if (err >= tp || err < tp - (g.static_size - l->sizeof_tcb))
		return -ENOTSUP;
	g.futex_offset = h->futex_offset;
	g.rseq_size = *rseq_size;
	g.list_off = list[2];
	return 0;
}

int __conc_libc_check(void)
{
	/* 1: not checked; 0 or -ENOTSUP: the answer. */
	static int state = 1;
	int r = __atomic_load_n(&state, __ATOMIC_ACQUIRE);

	if (r == 1) {
		r = __conc_libc_verify(NULL);
		if (!r) {
			for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
				if (!strcmp(gnu_get_libc_version(), known[i].version))
					g.l = &known[i];
		}
		__atomic_store_n(&state, r, __ATOMIC_RELEASE);
	}
	return r;
}

size_t __conc_libc_tls_bytes(void)
{
	return g.static_size + g.align;
}

void *__conc_libc_tcb_create(void *top)
{
	const struct __conc_layout *l = g.l;
	char *pd = (char *)(((uintptr_t)top - l->sizeof_tcb) & ~(g.align - 1));
	char *cur = thread_pointer();
	struct robust_list_head *h;

	memset(pd - (g.static_size - l->sizeof_tcb), 0, g.static_size);
	if (!g.allocate_tls(pd))
		return NULL;
	*(char **)pd = pd;
	*(char **)(pd + l->self_off) = pd;
	if (!CONC_FI(CONC_FI_MT_WORD))
		*(int *)(pd + l->mt_off) = 1;
	*(uintptr_t *)(pd + l->guard_off) = *(uintptr_t *)(cur + l->guard_off);
	if (!CONC_FI(CONC_FI_POINTER_GUARD))
		*(uintptr_t *)(pd + l->guard_off + 8) =
			*(uintptr_t *)(cur + l->guard_off + 8);
	*(uint32_t *)(pd + l->feature_off) = *(uint32_t *)(cur + l->feature_off);
	((void **)(pd + g.list_off))[0] = pd + g.list_off;
	((void **)(pd + g.list_off))[1] = pd + g.list_off;
	h = (struct robust_list_head *)(pd + l->robust_off);
	h->list.next = &h->list;
	h->futex_offset = g.futex_offset;
	h->list_op_pending = NULL;
	*((void **)h - 1) = h;
	return pd;
}

pid_t *__conc_libc_tid_word(void *tp)
{
	return (pid_t *)((char *)tp + g.l->tid_off);
}

void __conc_libc_tcb_destroy(void *tp)
{
	g.deallocate_tls(tp, false);
}

void __conc_libc_go_multithreaded(void)
{
	static int done;

	if (!CONC_FI(CONC_FI_MT_WORD))
		*(int *)(thread_pointer() + g.l->mt_off) = 1;
	if (__atomic_exchange_n(&done, 1, __ATOMIC_ACQ_REL))
		return;
	if (!CONC_FI(CONC_FI_SINGLE_THREADED)) {
		/* The program may hold a copy-relocated duplicate of libc's
		 * flag; libc itself reads its own. Clear both. */
		*g.single[0] = 0;
		if (g.single[1])
			*g.single[1] = 0;
	}
	if (!CONC_FI(CONC_FI_IO_LOCKS))
		g.io_enable_locks();
}

void __conc_libc_thread_enter(void *tp)
{
	char *pd = tp;
	int32_t *cpu_id = (int32_t *)(pd + g.l->rseq_off + 4);

	sys_set_robust_list((struct robust_list_head *)(pd + g.l->robust_off),
			    sizeof(struct robust_list_head));
	if (!CONC_FI(CONC_FI_RSEQ) &&
	    (!g.rseq_size ||
	     __CONC_SC(SYS_rseq, pd + g.l->rseq_off, RSEQ_AREA, 0, RSEQ_SIG) < 0))
		*cpu_id = RSEQ_CPU_ID_REGISTRATION_FAILED;
	if (!CONC_FI(CONC_FI_CTYPE))
		g.ctype_init();
}

/* A reused thread starts with the program's TLS as new: every module's
 * block but libc's (whose per-thread state, malloc's cache among it, is
 * what reuse keeps instead of leaking) is copied again from its image. */
static int reset_module(struct dl_phdr_info *info, size_t size, void *errp)
{
	char *block = info->dlpi_tls_data;
	const ElfW(Phdr) *ph;

	(void)size;
	if (!block)
		return 0;
	for (ph = info->dlpi_phdr; ph < info->dlpi_phdr + info->dlpi_phnum; ph++) {
		if (ph->p_type != PT_TLS)
			continue;
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

void __conc_libc_thread_leave(void *tp)
{
	g.call_tls_dtors();
	__conc_robust_release_all((struct robust_list_head *)
				  ((char *)tp + g.l->robust_off),
				  __conc_self()->tid);
}

#else /* not glibc on x86_64: no raw threads */

int __conc_libc_verify(const struct __conc_layout *l)
{
	(void)l;
	return -ENOTSUP;
}

int __conc_libc_check(void) { return -ENOTSUP; }
size_t __conc_libc_tls_bytes(void) { return 0; }
void *__conc_libc_tcb_create(void *top) { (void)top; return NULL; }
pid_t *__conc_libc_tid_word(void *tp) { return tp; }
void __conc_libc_tcb_destroy(void *tp) { (void)tp; }
void __conc_libc_go_multithreaded(void) {}
void __conc_libc_thread_enter(void *tp) { (void)tp; }
void __conc_libc_thread_reset_tls(void) {}
void __conc_libc_thread_leave(void *tp) { (void)tp; }

#endif
