/*
 * A conc thread's resolver state: _res, which res_init(3), res_query(3)
 * and the DNS look-ups of getaddrinfo(3) read and set through the
 * thread's __resp. glibc's TLS image points every thread's __resp at the
 * global _res, and pthread_create points each new thread at its own
 * (start_thread: __resp = &pd->res); libc_glibc.c does the same for a
 * conc thread, with bytes it keeps below the thread's TLS block. Apart
 * from libc_glibc.c because <resolv.h> defines names (p_type) that
 * <link.h> uses.
 */
#include <string.h>
#include "libc.h"

/* Only the glibc adapter uses it (musl has no res_nclose). */
#if (defined(__x86_64__) || defined(__aarch64__)) && defined(__GLIBC__)
#include <resolv.h>

size_t __conc_libc_res_size(void)
{
	return sizeof(struct __res_state);
}

void __conc_libc_res_forget(void *res)
{
	struct __res_state *r = res;

	/* Closing frees what res_init() took (its sockets, its share of the
	 * configuration); a state never set up holds nothing, and its zero
	 * socket fields must not be closed. */
	if (r->options & RES_INIT)
		res_nclose(r);
	memset(r, 0, sizeof(*r));
}

#endif
