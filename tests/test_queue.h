/* test_queue.h — what the queue's test files share. */
#ifndef TEST_QUEUE_H
#define TEST_QUEUE_H

#include <criterion/criterion.h>
#include <conc.h>

#define MS 1000000LL

static inline conc_queue *new_queue(uint32_t cap, uint32_t max)
{
	conc_queue_attr a = { .capacity = cap, .max_msg = max };
	conc_queue *q;

	cr_assert_eq(conc_queue_create(&q, &a), 0);
	return q;
}

#endif
