/*
 * fuzz_queue — libFuzzer target, through the queue's public API only: a
 * queue's segment as a peer may have written it, then attach
 * (conc_queue_open) and calls that must not wait (timeout 0). No crash,
 * hang or out-of-bounds access. Only the first word (the creator's init
 * word, whose wait is bounded and tested in test_queue) is kept.
 */
#include "image.h"

static struct image im;
static const struct range keep[] = { { 0, sizeof(uint32_t) } };

static void make(const char *name)
{
	conc_queue_attr a = { .capacity = 16, .max_msg = 64, .name = name,
			      .flags = CONC_SHM_EXCL };
	char v[64] = "message";
	conc_queue *q;

	if (conc_queue_create(&q, &a))
		abort();
	for (int i = 0; i < 10; i++)
		conc_queue_put(q, v, (size_t)(i * 6) % sizeof(v), 0);
	for (int i = 0; i < 4; i++)
		conc_queue_get(q, v, sizeof(v), 0);
	conc_queue_destroy(q);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	image_init(&im, "queue", CONC_SHM_QUEUE, make);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t n)
{
	char buf[128];
	conc_queue *q;
	long r;

	image_load(&im, in, n, keep, 1);
	if (conc_queue_open(&q, im.name))
		return 0;
	conc_queue_size(q);
	for (int i = 0; i < 3; i++) {
		r = conc_queue_get(q, buf, sizeof(buf), 0);
		if (r > (long)sizeof(buf))
			abort();
	}
	conc_queue_put(q, buf, 32, 0);
	r = conc_queue_get_begin(q, buf, sizeof(buf), 0);
	if (r > (long)sizeof(buf))
		abort();
	if (r >= 0)
		conc_queue_get_abort(q);
	conc_queue_destroy(q);
	return 0;
}
