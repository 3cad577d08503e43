/* conc/event.h — a flag threads and processes wait for (threading.Event). */
#ifndef CONC_EVENT_H
#define CONC_EVENT_H

#include <stdint.h>
#include <stdbool.h>
#include <conc/base.h>

/* An event. All zeroes is a valid event that is not set, usable between
 * processes in shared memory. Do not touch the fields. */
typedef struct conc_event {
	uint32_t word;
	uint32_t flags;
} conc_event;

#define CONC_EVENT_INIT { 0, 0 }

/* Initialise e as not set with flags (CONC_PRIVATE or 0): 0 or -EINVAL. */
int conc_event_init(conc_event *e, unsigned flags);

/* Set the event and wake every waiter. Setting a set event does nothing.
 * Returns 0 or -EINVAL. */
int conc_event_set(conc_event *e);

/* Clear the event; later waiters block until the next set. 0 or -EINVAL. */
int conc_event_clear(conc_event *e);

/* Whether the event is set now. NULL reads as not set. */
bool conc_event_is_set(const conc_event *e);

/*
 * Wait until the event is set. Returns 0 when it is set, or was set at any
 * moment during the wait (even if cleared again before the waiter ran, as in
 * Python), -ETIMEDOUT after timeout_ns, -EINVAL for NULL.
 */
int conc_event_wait(conc_event *e, int64_t timeout_ns);

#endif
