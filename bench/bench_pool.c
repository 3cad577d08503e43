/* bench_pool — conc_pool against Python's multiprocessing.Pool.map and
 * concurrent.futures.ProcessPoolExecutor.submit, same machine, same run. */
#include <conc.h>
#include <errno.h>
#include "bench.h"

#define MAP_N		1000000
#define MAP_CHUNK	1000
#define SUBMIT_N	20000

static ssize_t twice(const void *arg, size_t len, void *res, size_t cap)
{
	int32_t v;

	if (len != sizeof(v) || cap < sizeof(v))
		return -EINVAL;
	memcpy(&v, arg, sizeof(v));
	v *= 2;
	memcpy(res, &v, sizeof(v));
	return sizeof(v);
}

static int32_t *in, *out;

/* Untimed, as Python's runs begin with a warm-up: the workers are awake
 * when the clock starts, whatever ran before (runs alternate with
 * Python's, which take both CPUs). */
static void warm_up(conc_pool *p)
{
	int32_t res[100];

	if (conc_pool_map(p, twice, in, 100, sizeof(int32_t), res,
			  sizeof(int32_t), 1) != 0)
		bench_die("conc_pool_map (warm-up)");
}

static double run_map(void *arg)
{
	conc_pool *p = arg;
	uint64_t t;

	warm_up(p);
	t = bench_now_ns();

	if (conc_pool_map(p, twice, in, MAP_N, sizeof(int32_t), out,
			  sizeof(int32_t), MAP_CHUNK) != 0)
		bench_die("conc_pool_map");
	t = bench_now_ns() - t;
	for (int i = 0; i < MAP_N; i += 997)
		if (out[i] != 2 * i)
			bench_die("conc_pool_map: wrong result");
	return MAP_N / (t / 1e9) / 1e3;
}

static double run_submit(void *arg)
{
	conc_pool *p = arg;
	static conc_future *f[SUBMIT_N];
	uint64_t t;
	int32_t v;

	warm_up(p);
	t = bench_now_ns();
	for (int i = 0; i < SUBMIT_N; i++)
		if (conc_pool_submit(p, twice, &in[i], sizeof(int32_t), &f[i]))
			bench_die("conc_pool_submit");
	for (int i = 0; i < SUBMIT_N; i++) {
		if (conc_future_wait(f[i], 20000000000LL) ||
		    conc_future_result(f[i], &v, sizeof(v)) != sizeof(v) ||
		    v != 2 * i)
			bench_die("conc_future_result");
		conc_future_release(f[i]);
	}
	t = bench_now_ns() - t;
	return SUBMIT_N / (t / 1e9) / 1e3;
}

static const char py_map[] =
	"import multiprocessing as mp, sys, time\n"
	"def f(x):\n"
	"    return 2 * x\n"
	"n, chunk = int(sys.argv[1]), int(sys.argv[2])\n"
	"with mp.Pool() as p:\n"
	"    p.map(f, range(100))\n"
	"    t = time.perf_counter()\n"
	"    r = p.map(f, range(n), chunksize=chunk)\n"
	"    dt = time.perf_counter() - t\n"
	"if r[-1] != 2 * (n - 1):\n"
	"    sys.exit(2)\n"
	"print(n / dt)\n";

static const char py_submit[] =
	"import concurrent.futures as cf, sys, time\n"
	"def f(x):\n"
	"    return 2 * x\n"
	"n = int(sys.argv[1])\n"
	"with cf.ProcessPoolExecutor() as ex:\n"
	"    ex.submit(f, 1).result()\n"
	"    t = time.perf_counter()\n"
	"    fs = [ex.submit(f, i) for i in range(n)]\n"
	"    r = [x.result() for x in fs]\n"
	"    dt = time.perf_counter() - t\n"
	"if r[-1] != 2 * (n - 1):\n"
	"    sys.exit(2)\n"
	"print(n / dt)\n";

/* Thousands of tasks per second, < 0 when python3 is missing or failed. */
static double python(const char *script, long n, long chunk)
{
	char a1[32], a2[32], buf[128];
	char *argv[] = { "python3", "-c", (char *)script, a1, a2, NULL };
	conc_proc_attr a = { .flags = CONC_SPAWN_PIPE_STDOUT };
	size_t len = 0;
	conc_proc *p;
	ssize_t r;
	int st;

	snprintf(a1, sizeof(a1), "%ld", n);
	snprintf(a2, sizeof(a2), "%ld", chunk);
	if (conc_proc_spawn(&p, "python3", argv, NULL, &a))
		return -1;
	while (len < sizeof(buf) - 1 &&
	       (r = read(conc_proc_stdout(p), buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)r;
	buf[len] = 0;
	if (conc_proc_join(p, &st, 60000000000LL)) {
		conc_proc_kill(p, SIGKILL);
		conc_proc_join(p, &st, CONC_FOREVER);
		conc_proc_release(p);
		return -1;
	}
	conc_proc_release(p);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || strtod(buf, NULL) <= 0)
		return -1;
	return strtod(buf, NULL) / 1e3;
}

static double py_map_run(void *arg)
{
	(void)arg;
	return python(py_map, MAP_N, MAP_CHUNK);
}

static double py_submit_run(void *arg)
{
	(void)arg;
	return python(py_submit, SUBMIT_N, 0);
}

int main(void)
{
	struct bench_var v[] = {
		{ "conc", run_map, NULL },
		{ "Pool.map(chunk 1000)", py_map_run, NULL },
		{ "conc", run_submit, NULL },
		{ "ProcessPoolExecutor", py_submit_run, NULL },
	};
	struct bench_set s;
	conc_pool *p;

	bench_banner("bench_pool: conc_pool vs Python multiprocessing.Pool, ProcessPoolExecutor");
	in = malloc(MAP_N * sizeof(int32_t));
	out = malloc(MAP_N * sizeof(int32_t));
	if (!in || !out)
		bench_die("malloc");
	for (int i = 0; i < MAP_N; i++)
		in[i] = i;
	/* Workers first, while this process has no thread. */
	if (conc_pool_create(&p, NULL))
		bench_die("conc_pool_create");
	v[0].arg = v[2].arg = p;
	bench_set_run(&s, v, 4);
	conc_pool_close(p);
	conc_pool_join(p);
	conc_pool_destroy(p);
	bench_cmp(&s, "pool map 1M trivial tasks, chunk 1000", "k task/s", 0, 1, 0);
	bench_cmp(&s, "pool submit 20k trivial tasks", "k task/s", 2, 3, 0);
	printf("   (workers: CPUs available; Python timed from its first map or\n"
	       "   submit after a warm-up, with its default start method; one\n"
	       "   `python3 -c` per run, between conc's runs.)\n");
	return 0;
}
