/*
 * fuzz/image.h — what the fuzz targets share: a healthy container in a
 * named segment, kept as a template; each input is laid over a fresh copy
 * of it (as a peer would write it), then the target attaches and calls.
 *
 * An input is a flags byte, then either (flags & RAW) bytes that replace
 * the data area from its start, or patches: a 2-byte offset (little
 * endian, taken modulo the size), a length byte (1..32) and that many
 * bytes. The words listed in keep[] are put back from the template
 * afterwards: the lock (a peer that holds it denies service, which the
 * threat model allows; it is the mutex's own tests that cover its word)
 * and the creator's init word (its wait is bounded, a second, and tested
 * in the container's tests). With (flags & DEAD) the lock is left as a
 * holder's death leaves it, so the next call replays what the input wrote
 * in the journal. With (flags & TID), one word names the caller's thread
 * (image_stamp_tid). The targets whose calls wait time them
 * (fuzz_in_time): no call may come back well past its timeout.
 */
#ifndef CONC_FUZZ_IMAGE_H
#define CONC_FUZZ_IMAGE_H

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/futex.h>
#include "../tests/own_clock.h"
#include <conc.h>

#define FUZZ_RAW  0x80
#define FUZZ_DEAD 0x01

struct range {
	size_t off, len;
};

struct image {
	char name[64];
	conc_shm *raw;
	unsigned char *data, *tmpl;
	size_t size;
};

static char image_name[64];

static void image_unlink(void)
{
	conc_shm_unlink(image_name);
}

/* Map the named segment that make() has just created, and keep a copy
 * of its healthy contents. */
static inline void image_init(struct image *im, const char *what, uint32_t kind,
		       void (*make)(const char *name))
{
	snprintf(im->name, sizeof(im->name), "conc-fuzz-%s-%d", what,
		 (int)getpid());
	conc_shm_unlink(im->name);
	make(im->name);
	memcpy(image_name, im->name, sizeof(image_name));
	atexit(image_unlink);
	if (conc_shm_open(&im->raw, im->name, kind))
		abort();
	/* The name is needed only to open it again; the mapping stays. */
	im->data = conc_shm_data(im->raw);
	im->size = conc_shm_size(im->raw);
	im->tmpl = malloc(im->size);
	if (!im->tmpl)
		abort();
	memcpy(im->tmpl, im->data, im->size);
}

/* Lay input over a fresh copy; returns its flags byte. */
static inline unsigned image_load(struct image *im, const uint8_t *in, size_t n,
			   const struct range *keep, size_t nkeep)
{
	unsigned flags = n ? in[0] : 0;
	size_t i, off, len;

	memcpy(im->data, im->tmpl, im->size);
	if (n)
		in++, n--;
	if (flags & FUZZ_RAW) {
		memcpy(im->data, in, n < im->size ? n : im->size);
	} else {
		while (n >= 4) {
			off = ((size_t)in[0] | (size_t)in[1] << 8) % im->size;
			len = in[2] % 32 + 1;
			in += 3, n -= 3;
			if (len > n)
				len = n;
			if (len > im->size - off)
				len = im->size - off;
			memcpy(im->data + off, in, len);
			in += len, n -= len;
		}
	}
	for (i = 0; i < nkeep; i++)
		memcpy(im->data + keep[i].off, im->tmpl + keep[i].off, keep[i].len);
	return flags;
}

/* A dead holder's lock: free, with FUTEX_OWNER_DIED, as the kernel
 * leaves it; the next locker gets -EOWNERDEAD and repairs. */
static inline void image_kill_holder(struct image *im, size_t lock_off)
{
	conc_mutex *m = (conc_mutex *)(im->data + lock_off);

	__atomic_store_n(&m->word, FUTEX_OWNER_DIED, __ATOMIC_RELEASE);
}

/* With FUZZ_TID in the flags: one word (at the input's second byte, in
 * words) becomes the caller's thread id, with the two top bits of the
 * third byte (FUTEX_WAITERS, FUTEX_OWNER_DIED): a peer reads it from any
 * lock the caller held, and a word naming the caller is a case of its own. */
#define FUZZ_TID 0x02

static inline void image_stamp_tid(struct image *im, const uint8_t *in, size_t n)
{
	size_t off;
	uint32_t w;

	if (n < 3 || !(in[0] & FUZZ_TID))
		return;
	off = (size_t)in[1] * 4 % (im->size & ~(size_t)3);
	w = (uint32_t)conc_gettid() | (uint32_t)(in[2] & 0xc0) << 24;
	memcpy(im->data + off, &w, sizeof(w));
}

/* A call's result must be one its contract lists. */
static inline void expect(long r, const char *call, int n, ...)
{
	va_list ap;
	int i, ok = r >= 0;

	va_start(ap, n);
	for (i = 0; i < n && !ok; i++)
		ok = r == -(long)va_arg(ap, int);
	va_end(ap);
	if (!ok) {
		fprintf(stderr, "%s returned %ld, not in its contract\n", call, r);
		abort();
	}
}

/* What a call may take beyond its timeout, on the CPU or asleep: well
 * past it is a hang, not slowness (libFuzzer's -timeout catches the rest).
 * The time the thread waited for a CPU is not counted (own_clock.h). */
#define FUZZ_SLACK_NS 3000000000LL

/* The clock of fuzz_in_time: tests/own_clock.h. */
static inline int64_t fuzz_now_ns(void)
{
	return own_now_ns();
}

/* A call that began at t0 with timeout_ns (< 0: none) came back in time. */
static inline void fuzz_in_time(const char *call, int64_t t0, int64_t timeout_ns)
{
	int64_t took = fuzz_now_ns() - t0;

	if (timeout_ns >= 0 && took > timeout_ns + FUZZ_SLACK_NS) {
		fprintf(stderr, "%s took %lld ns with a timeout of %lld\n", call,
			(long long)took, (long long)timeout_ns);
		abort();
	}
}

#endif
