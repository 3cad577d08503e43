/* demo: the ATM race: check-then-withdraw overdraws an account, a conc_mutex makes it safe */
/*
 * Lao Wang and his wife stand at two ATMs of the same account, which holds
 * 100. Both want 80. Each ATM checks the balance, takes a moment to count the
 * notes, then debits. Without a lock both checks see 100 and the account ends
 * at -60; with a conc_mutex around check-and-debit, one of them is refused.
 *
 * The two customers are processes sharing an anonymous MAP_SHARED page that
 * holds the mutex and the account; atm_threads.c tells it with threads.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <conc.h>

#define START	100
#define WANT	80

struct bank {
	conc_mutex lock;	/* zeroed by mmap: already a valid, shared mutex */
	int balance;
	int paid[2];		/* what each ATM handed out */
};

static const char *who[2] = { "Lao Wang", "his wife" };

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, ms % 1000 * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static void withdraw(struct bank *b, int i, bool locked)
{
	int r, seen;

	if (locked && (r = conc_mutex_lock(&b->lock)) != 0) {
		printf("  %s: conc_mutex_lock: %s\n", who[i], strerror(-r));
		_exit(2);
	}
	/* Atomic reads and debit: the bug shown is check-then-act, not a torn
	 * or lost update, so the unlocked result is exactly 100 - 2 * 80. */
	seen = __atomic_load_n(&b->balance, __ATOMIC_SEQ_CST);
	if (seen < WANT) {
		printf("  %s: balance is %d, not enough for %d: refused\n",
		       who[i], seen, WANT);
	} else {
		printf("  %s: balance is %d, enough: counting out %d...\n",
		       who[i], seen, WANT);
		sleep_ms(100);	/* the window in which the other ATM checks */
		r = __atomic_sub_fetch(&b->balance, WANT, __ATOMIC_SEQ_CST);
		b->paid[i] = WANT;
		printf("  %s: took %d, balance now %d\n", who[i], WANT, r);
	}
	if (locked && (r = conc_mutex_unlock(&b->lock)) != 0) {
		printf("  %s: conc_mutex_unlock: %s\n", who[i], strerror(-r));
		_exit(2);
	}
	_exit(0);
}

/* Run both withdrawals at once; 0 if both customers finished normally. */
static int run(struct bank *b, bool locked)
{
	pid_t pid[2];
	int i, st, bad = 0;

	b->balance = START;
	b->paid[0] = b->paid[1] = 0;
	for (i = 0; i < 2; i++) {
		fflush(stdout);	/* or the child would print our buffer again */
		pid[i] = fork();
		if (pid[i] < 0) {
			perror("fork");
			return -1;
		}
		if (pid[i] == 0) {
			alarm(30);	/* watchdog: a bug must fail, not hang */
			withdraw(b, i, locked);
		}
	}
	for (i = 0; i < 2; i++)
		if (waitpid(pid[i], &st, 0) < 0 || !WIFEXITED(st) ||
		    WEXITSTATUS(st) != 0)
			bad = 1;
	return bad ? -1 : 0;
}

int main(void)
{
	struct bank *b;

	/* Children leave with _exit(), which skips stdio's flush: line
	 * buffering gets every line out as soon as it is written. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	alarm(30);
	b = mmap(NULL, sizeof(*b), PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (b == MAP_FAILED) {
		perror("mmap");
		return 1;
	}

	printf("Account holds %d; two ATMs each try to withdraw %d.\n\n", START, WANT);
	printf("1) No lock: check, count the notes (100 ms), debit.\n");
	if (run(b, false) != 0)
		return 1;
	printf("  => paid out %d in total, balance %d%s\n\n",
	       b->paid[0] + b->paid[1], b->balance,
	       b->balance < 0 ? ": overdrawn, both checks saw 100"
			      : " (the race did not show this time)");

	printf("2) With a conc_mutex held from the check to the debit.\n");
	if (run(b, true) != 0)
		return 1;
	printf("  => paid out %d in total, balance %d\n",
	       b->paid[0] + b->paid[1], b->balance);
	if (b->balance != START - WANT || b->paid[0] + b->paid[1] != WANT) {
		printf("FAILED: expected exactly one withdrawal and balance %d\n",
		       START - WANT);
		return 1;
	}
	printf("OK: exactly one withdrawal went through.\n");
	return 0;
}
