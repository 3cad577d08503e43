/* demo: the ATM race with two conc threads: check-then-debit overdraws, a conc_mutex makes it safe */
/*
 * The same story as atm_race, told with threads: Lao Wang and his wife
 * stand at two ATMs of the same account, which holds 100, and both want
 * 80. Each ATM is a conc thread: it checks the balance, takes a moment to
 * count the notes, then debits. Without a lock both checks see 100 and the
 * account ends at -60; with a conc_mutex held from the check to the debit,
 * one of them is refused.
 *
 * Threads share the account as an ordinary variable: no shared mapping is
 * needed, and the mutex can be CONC_PRIVATE (it never leaves the process).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <conc.h>

#define START	100
#define WANT	80

struct account {
	conc_mutex lock;
	int balance;
};

struct atm {
	const char *who;
	struct account *acct;
	bool locked;
};

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, ms % 1000 * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* A thread: withdraw WANT if the balance allows; returns what it paid. */
static int withdraw(void *arg)
{
	struct atm *a = arg;
	struct account *acct = a->acct;
	int seen, paid = 0, r;

	if (a->locked && (r = conc_mutex_lock(&acct->lock)) != 0) {
		printf("  %s: conc_mutex_lock: %s\n", a->who, strerror(-r));
		return -1;
	}
	/* Atomic reads and debit: the bug shown is check-then-act, not a torn
	 * or lost update, so the unlocked result is exactly 100 - 2 * 80. */
	seen = __atomic_load_n(&acct->balance, __ATOMIC_SEQ_CST);
	if (seen < WANT) {
		printf("  %s: balance is %d, not enough for %d: refused\n",
		       a->who, seen, WANT);
	} else {
		printf("  %s: balance is %d, enough: counting out %d...\n",
		       a->who, seen, WANT);
		sleep_ms(100);	/* the window in which the other ATM checks */
		r = __atomic_sub_fetch(&acct->balance, WANT, __ATOMIC_SEQ_CST);
		paid = WANT;
		printf("  %s: took %d, balance now %d\n", a->who, WANT, r);
	}
	if (a->locked && (r = conc_mutex_unlock(&acct->lock)) != 0) {
		printf("  %s: conc_mutex_unlock: %s\n", a->who, strerror(-r));
		return -1;
	}
	return paid;
}

/* Both ATMs at once; the total paid out, or -1 if something failed. */
static int run(struct account *acct, bool locked)
{
	struct atm atm[2] = {
		{ "Lao Wang", acct, locked },
		{ "his wife", acct, locked },
	};
	conc_thread *t[2];
	int i, r, code, total = 0;

	acct->balance = START;
	for (i = 0; i < 2; i++) {
		conc_thread_attr attr = { .name = "atm" };

		r = conc_thread_start(&t[i], withdraw, &atm[i], &attr);
		if (r) {
			printf("conc_thread_start: %s%s\n", strerror(-r),
			       r == -ENOTSUP ? " (no conc threads with this C "
			       "library: see atm_race for processes)" : "");
			exit(1);
		}
	}
	for (i = 0; i < 2; i++) {
		r = conc_thread_join(t[i], &code, 5 * 1000000000LL);
		if (r) {
			printf("conc_thread_join: %s\n", strerror(-r));
			exit(1);
		}
		if (code < 0)
			total = -1;
		else if (total >= 0)
			total += code;
	}
	return total;
}

int main(void)
{
	const char *why;
	static struct account acct;
	int paid;

	setvbuf(stdout, NULL, _IOLBF, 0);
	conc_mutex_init(&acct.lock, CONC_PRIVATE);
	if (conc_thread_support(&why)) {
		printf("no conc threads with this C library (%s): %s\n", why,
		       "see atm_race for processes");
		return 0;
	}

	printf("Account holds %d; two ATMs (two threads) each try to withdraw %d.\n\n",
	       START, WANT);
	printf("1) No lock: check, count the notes (100 ms), debit.\n");
	paid = run(&acct, false);
	if (paid < 0)
		return 1;
	printf("  => paid out %d in total, balance %d%s\n\n", paid, acct.balance,
	       acct.balance < 0 ? ": overdrawn, both checks saw 100"
				: " (the race did not show this time)");

	printf("2) With a conc_mutex held from the check to the debit.\n");
	paid = run(&acct, true);
	if (paid < 0)
		return 1;
	printf("  => paid out %d in total, balance %d\n", paid, acct.balance);
	if (acct.balance != START - WANT || paid != WANT) {
		printf("FAILED: expected exactly one withdrawal and balance %d\n",
		       START - WANT);
		return 1;
	}
	printf("OK: exactly one withdrawal went through.\n");
	return 0;
}
