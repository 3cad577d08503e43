/* conc — common definitions shared by every module. */
#ifndef CONC_BASE_H
#define CONC_BASE_H

#include <stdint.h>

#define CONC_VERSION_MAJOR 0
#define CONC_VERSION_MINOR 1
#define CONC_VERSION "0.1.0"

/*
 * Timeouts are int64_t nanoseconds, relative to the call, measured on
 * CLOCK_MONOTONIC and turned once into an absolute deadline, so retries after
 * spurious wake-ups or signals never stretch them.
 * CONC_FOREVER (any negative value) blocks; 0 only tries; > 0 bounds the wait.
 */
#define CONC_FOREVER ((int64_t)-1)

/*
 * Flags given to the _init functions of the synchronisation objects.
 * A zeroed object has no flags: it is valid and works between processes.
 * CONC_PRIVATE: the object never leaves one process (faster futex hashing).
 * CONC_RECURSIVE: a mutex the owner may lock again (counted).
 * CONC_ROBUST: a mutex whose owner's death is reported to the next locker.
 */
#define CONC_PRIVATE   0x1u
#define CONC_RECURSIVE 0x2u
#define CONC_ROBUST    0x4u

#endif
