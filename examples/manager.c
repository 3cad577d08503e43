/* demo: child processes fill a shared dict and list (conc_map, conc_list) with no server process; a writer SIGKILLed mid-put leaves the map whole */
/*
 * The seed's Manager example in C. Python's Manager() runs a server
 * process that owns the dict and the list; here they live in shared memory
 * that the children inherit, and each call takes the container's robust
 * lock. The parent appends to the list, three children each set two keys
 * and append a line, and the parent prints what they left.
 *
 * Then a child puts keys as fast as it can and is killed with SIGKILL,
 * most likely inside a put: the next call finds the lock's owner dead,
 * undoes the half-made change, and the map holds every finished put, whole.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>
#include <conc.h>

#define SEC 1000000000LL

struct shared {
	conc_map *dict;
	conc_list *list;
};

static int func(void *arg)
{
	struct shared *s = arg;
	char name[16], pid[16], line[64];

	snprintf(name, sizeof(name), "p%d", (int)getpid());
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	snprintf(line, sizeof(line), "I'm a handsome man !! (%s)", name);
	if (conc_map_put(s->dict, "age", 3, "19", 2) ||
	    conc_map_put(s->dict, name, strlen(name), pid, strlen(pid)) ||
	    conc_list_append(s->list, line, strlen(line)))
		return 1;
	return 0;
}

static int print_item(const void *k, size_t kl, const void *v, size_t vl,
		      void *arg)
{
	int *first = arg;

	printf("%s'%.*s': '%.*s'", *first ? "" : ", ", (int)kl, (const char *)k,
	       (int)vl, (const char *)v);
	*first = 0;
	return 0;
}

/* Put k0, k1, ... k1999, again and again, with value "value of kN",
 * until killed. */
static int writer(void *arg)
{
	char k[32], v[64];

	for (unsigned i = 0;; i++) {
		int kl = snprintf(k, sizeof(k), "k%u", i % 2000);
		int vl = snprintf(v, sizeof(v), "value of %s", k);

		if (conc_map_put(arg, k, (size_t)kl, v, (size_t)vl))
			return 1;
	}
}

/* Count the writer's keys, and those whose value is not whole. */
static int check_item(const void *k, size_t kl, const void *v, size_t vl,
		      void *arg)
{
	int *count = arg, n;
	char want[64];

	if (kl < 2 || ((const char *)k)[0] != 'k')
		return 0;
	n = snprintf(want, sizeof(want), "value of %.*s", (int)kl,
		     (const char *)k);
	count[0]++;
	if ((size_t)n != vl || memcmp(want, v, vl))
		count[1]++;
	return 0;
}

static int fail(const char *what, int r)
{
	printf("%s: %s\n", what, strerror(-r));
	return 1;
}

int main(void)
{
	struct shared s;
	conc_proc *p[3], *w;
	struct timespec ts = { 0, 20000000 }, ms = { 0, 1000000 };
	char line[64];
	int r, st, first = 1, count[2] = { 0, 0 }, gaps = 0;
	ssize_t n;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if ((r = conc_map_create(&s.dict, NULL)) ||
	    (r = conc_list_create(&s.list, NULL)))
		return fail("create", r);
	conc_list_append(s.list, "I am a PD!!!", 12);
	printf("parent %d: list and dict in shared memory, no server process\n",
	       (int)getpid());
	for (int i = 0; i < 3; i++)
		if ((r = conc_proc_start(&p[i], func, &s, NULL)))
			return fail("conc_proc_start", r);
	for (int i = 0; i < 3; i++) {
		if ((r = conc_proc_join(p[i], &st, 10 * SEC)) || !WIFEXITED(st) ||
		    WEXITSTATUS(st))
			return fail("child", r ? r : -ECHILD);
		conc_proc_release(p[i]);
	}
	printf("dict: {");
	conc_map_iterate(s.dict, print_item, &first);
	printf("}  (%zd keys)\nlist:\n", conc_map_len(s.dict));
	for (ssize_t i = 0; (n = conc_list_get(s.list, i, line, sizeof(line))) >= 0; i++)
		printf("  [%zd] %.*s\n", i, (int)n, line);
	if (conc_map_len(s.dict) != 4 || conc_list_len(s.list) != 4)
		return 1;

	printf("a writer puts k0 .. k1999 over and over; SIGKILL after 20 ms\n");
	if ((r = conc_proc_start(&w, writer, s.dict, NULL)))
		return fail("conc_proc_start", r);
	/* 20 ms from its first key, not from its start: a loaded machine
	 * may not run it at all in 20 ms (no key to check then). Bounded. */
	for (int i = 0; i < 10000 && conc_map_len(s.dict) <= 4; i++)
		nanosleep(&ms, NULL);
	nanosleep(&ts, NULL);
	conc_proc_kill(w, SIGKILL);
	if ((r = conc_proc_join(w, &st, 10 * SEC)) || !WIFSIGNALED(st))
		return fail("writer", r ? r : -ECHILD);
	conc_proc_release(w);
	/* The first call after the death repairs, under the lock. */
	conc_map_iterate(s.dict, check_item, count);
	for (int i = 0; i < count[0]; i++) {
		int kl = snprintf(line, sizeof(line), "k%d", i);

		gaps += !conc_map_contains(s.dict, line, (size_t)kl);
	}
	printf("after the kill: %d keys k0..k%d, %d missing, %d damaged\n",
	       count[0], count[0] - 1, gaps, count[1]);
	conc_map_destroy(s.dict);
	conc_list_destroy(s.list);
	return count[0] > 0 && !count[1] && !gaps ? 0 : 1;
}
