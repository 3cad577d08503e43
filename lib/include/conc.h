/* conc.h — threads, processes, locks, queues and coroutines on raw Linux
 * system calls, without pthreads. Include this, or the module headers. */
#ifndef CONC_H
#define CONC_H

#include <conc/base.h>
#include <conc/sys.h>
#include <conc/mutex.h>
#include <conc/rwlock.h>
#include <conc/sem.h>
#include <conc/event.h>
#include <conc/cond.h>
#include <conc/barrier.h>
#include <conc/once.h>
#include <conc/proc.h>
#include <conc/thread.h>
#include <conc/shm.h>
#include <conc/queue.h>
#include <conc/rsem.h>
#include <conc/chan.h>
#include <conc/map.h>
#include <conc/list.h>
#include <conc/pool.h>
#include <conc/loop.h>

#endif
