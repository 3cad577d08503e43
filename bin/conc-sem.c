/* conc-sem — run a command holding one of N permits of a named robust
 * semaphore (conc_rsem_create(3)); see conc-sem(1). */
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include "tool.h"

enum {
	EX_MISSING = 4,		/* --status, --rm: no such semaphore */
	EX_NOPERMIT = 124,	/* -w TIMEOUT passed without a permit */
	EX_FAIL = 125,		/* conc-sem itself failed */
	EX_NOEXEC = 126,
	EX_NOTFOUND = 127,
};

static const char usage[] =
	"usage: conc-sem [-n N] [-w TIMEOUT] [--mode MODE] NAME [--] COMMAND [ARG]...\n"
	"       conc-sem --status NAME\n"
	"       conc-sem --rm NAME\n"
	"Run COMMAND holding one of N permits (default 1) of the semaphore NAME\n"
	"(under /dev/shm, created if missing), and exit with its status. A holder\n"
	"killed, even with SIGKILL, gives its permit back.\n"
	"  -n, --permits N   permits of a new semaphore (an existing one must agree)\n"
	"  -w, --wait T      wait at most T seconds for a permit (fractions allowed)\n"
	"  -m, --mode MODE   octal mode of a new semaphore (default 600)\n"
	"      --status      list the holders: pid, permits, since, command\n"
	"      --rm          remove the semaphore's name\n"
	"  -h, --help        this text;  -V, --version\n"
	"Exit: COMMAND's status (128+N if killed by signal N); 124 no permit within\n"
	"T; 125 conc-sem failed; 126 COMMAND cannot run; 127 COMMAND not found;\n"
	"--status and --rm: 0, or 4 when there is no such semaphore.\n";

/* conc_rsem_open(), also of one group or others may write (tool_shm_fd). */
static int open_sem(conc_rsem **s, const char *name)
{
	int r = conc_rsem_open(s, name), fd;

	if (r != -EACCES || (fd = tool_shm_fd(name)) < 0)
		return r;
	r = conc_rsem_open_fd(s, fd);
	close(fd);
	return r;
}

/* Open NAME, or create it with n permits; an explicit -n must agree. */
static int get_sem(conc_rsem **s, const char *name, uint32_t n, bool n_given,
		   unsigned mode)
{
	conc_rsem_attr a = { .permits = n, .name = name,
			     .flags = CONC_SHM_EXCL | CONC_SHM_MODE(mode) };
	int r = -ENOENT, i;
	mode_t um = tool_umask_off();

	for (i = 0; i < 3 && r == -ENOENT; i++) {
		r = open_sem(s, name);
		if (r == -ENOENT) {
			r = conc_rsem_create(s, &a);
			if (r == -EEXIST)	/* another made it first */
				r = -ENOENT;
		}
	}
	if (r == -EPROTO) {	/* perhaps one whose creator died: finish it */
		a.flags &= ~CONC_SHM_EXCL;
		r = conc_rsem_create(s, &a);
		if (r == -EACCES && !tool_shm_mode(name, &mode)) {
			a.flags = CONC_SHM_MODE(mode);
			r = conc_rsem_create(s, &a);
		}
		if (r == -EINVAL)
			r = -EPROTO;
	}
	umask(um);
	if (r == -EPROTO) {
		tool_err(0, "%s: not a semaphore (another kind of object, or one whose creator died: see --rm)", name);
		return -1;
	}
	if (r) {
		tool_err(r, "%s", name);
		return -1;
	}
	if (n_given && (uint32_t)conc_rsem_permits(*s) != n) {
		tool_err(0, "%s: has %d permits, not %u (remove it with --rm to change)",
			 name, conc_rsem_permits(*s), n);
		conc_rsem_destroy(*s);
		return -1;
	}
	return 0;
}

static conc_proc *child;
/* The signal mask conc-sem was given, the command's too (a spawn's
 * child otherwise starts with none blocked). */
static sigset_t given_mask;

/* A signal sent to conc-sem goes to the command; one from the terminal
 * (SI_KERNEL) reached the command's process group already. */
static void forward(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	if (si->si_code != SI_KERNEL)
		conc_proc_kill(child, sig);	/* a load and pidfd_send_signal */
}

static const int passed_on[] = { SIGHUP, SIGINT, SIGQUIT, SIGTERM,
				 SIGUSR1, SIGUSR2, SIGALRM };

/* The signals passed on that conc-sem was not given blocked: held from
 * the permit to the command's start (hold_signals). */
static void held_set(sigset_t *set)
{
	sigemptyset(set);
	for (size_t i = 0; i < sizeof(passed_on) / sizeof(passed_on[0]); i++)
		if (!sigismember(&given_mask, passed_on[i]))
			sigaddset(set, passed_on[i]);
}

/*
 * Between the permit and the command, a signal to pass on has nobody to
 * go to: its default action would end conc-sem with 128 + N, the command
 * never begun (it was 143 for a SIGTERM, where timeout(1) and a running
 * command give the command's own answer). So it is held (blocked) until
 * the command runs, then passed on by pass_held(); while conc-sem waits
 * for a permit it still ends conc-sem, which has started nothing.
 */
static void hold_signals(void)
{
	sigset_t set;

	held_set(&set);
	sigprocmask(SIG_BLOCK, &set, NULL);
}

/* The command runs: what was held goes to it, whatever sent it (one from
 * the terminal came before the command was in its process group, or, in
 * the instant of the spawn, it may reach it twice); from now on the
 * handler passes signals on as they come. */
static void pass_held(void)
{
	struct sigaction sa = { .sa_sigaction = forward,
				.sa_flags = SA_SIGINFO | SA_RESTART };
	struct timespec now = { 0, 0 };
	sigset_t set;
	int sig;

	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(passed_on) / sizeof(passed_on[0]); i++)
		sigaction(passed_on[i], &sa, NULL);
	held_set(&set);
	while ((sig = sigtimedwait(&set, NULL, &now)) > 0)
		conc_proc_kill(child, sig);
	sigprocmask(SIG_SETMASK, &given_mask, NULL);
}

/*
 * The file that execvp(3) hands to /bin/sh when execve(2) says ENOEXEC
 * (a script without a "#!" line), as env(1), timeout(1) and xargs(1) run
 * it: cmd itself if it names a path; else the first executable regular
 * file of that name in $PATH (unset: /bin:/usr/bin, as the spawn's
 * search), the one the spawn ran, since none before it could run.
 * malloc'd, or NULL.
 */
static char *script_path(const char *cmd)
{
	const char *d = getenv("PATH"), *e;
	struct stat st;
	char *p;

	if (strchr(cmd, '/'))
		return strdup(cmd);
	for (d = d ? d : "/bin:/usr/bin";; d = e + 1) {
		e = strchrnul(d, ':');
		/* An empty entry is the current directory. */
		if (asprintf(&p, "%.*s%s%s", (int)(e - d), d, e > d ? "/" : "",
			     cmd) < 0)
			return NULL;
		if (!stat(p, &st) && S_ISREG(st.st_mode) &&
		    !faccessat(AT_FDCWD, p, X_OK, AT_EACCESS))
			return p;
		free(p);
		if (!*e)
			return NULL;
	}
}

/* conc_proc_spawn(3), and for a script without "#!" (-ENOEXEC, which the
 * spawn, as posix_spawnp(3), returns) /bin/sh with the script's path and
 * the arguments, as execvp(3) does. */
static int spawn(char **cmd, const conc_proc_attr *pa)
{
	int r = conc_proc_spawn(&child, cmd[0], cmd, NULL, pa);
	size_t n = 0;
	char **av, *path;

	if (r != -ENOEXEC)
		return r;
	while (cmd[n])
		n++;
	path = script_path(cmd[0]);
	av = calloc(n + 2, sizeof(*av));
	if (path && av) {
		av[0] = "/bin/sh";
		av[1] = path;
		memcpy(av + 2, cmd + 1, n * sizeof(*av));	/* and the NULL */
		if (conc_proc_spawn(&child, av[0], av, NULL, pa) == 0)
			r = 0;
	}
	free(av);
	free(path);
	return r;
}

/*
 * Take a permit within wait_ns (< 0: however long it takes). A free
 * permit with no room among the holders (more than CONC_RSEM_HOLDERS_MAX
 * commands at once, or a table a program made smaller) is waited for as a
 * permit: a holder has to go first. Nothing wakes a waiter for room, so
 * this one looks again, 1 ms after the first miss, then up to 50 ms apart.
 * *full: the last miss was for room, not for a permit.
 */
static int take_permit(conc_rsem *s, int64_t wait_ns, bool *full)
{
	int64_t end = tool_end(wait_ns), left, nap = 1000000;
	struct timespec ts;
	int r;

	for (;;) {
		r = conc_rsem_timedwait(s, tool_left(end));
		*full = r == -EUSERS;
		if (!*full)
			return r;
		left = tool_left(end);
		if (left == 0)
			return -ETIMEDOUT;
		if (left > 0 && left < nap)
			nap = left;
		ts.tv_sec = nap / 1000000000;
		ts.tv_nsec = nap % 1000000000;
		nanosleep(&ts, NULL);	/* a signal only makes it look sooner */
		nap = nap * 2 > 50000000 ? 50000000 : nap * 2;
	}
}

/*
 * The command was ended by signal sig: conc-sem ends by it too, as
 * timeout(1) does, its core dump off (the command's is the one to see).
 * A shell reads 128 + sig either way, but only a death by SIGINT or
 * SIGQUIT tells bash that Ctrl-C was meant for the script as well: told
 * exit(130), it goes on with the next command of its loop ("wait and
 * cooperative exit"), as it does for a command that caught the signal.
 * Returns 128 + sig if sig does not end conc-sem (none that ended the
 * command should fail to).
 */
static int die_as(int sig)
{
	struct sigaction sa = { .sa_handler = SIG_DFL };
	struct rlimit none = { 0, 0 };
	sigset_t set;

	prctl(PR_SET_DUMPABLE, 0);
	setrlimit(RLIMIT_CORE, &none);
	sigemptyset(&sa.sa_mask);
	sigaction(sig, &sa, NULL);
	sigemptyset(&set);
	sigaddset(&set, sig);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	raise(sig);
	return 128 + sig;
}

/* The status for a command that did not start: no process, memory or
 * fd to be had is conc-sem's failure, as timeout(1)'s fork that fails;
 * 126 says the command itself cannot run, which a script may act on. */
static int spawn_status(int r)
{
	switch (r) {
	case -ENOENT:
		return EX_NOTFOUND;
	case -EAGAIN:
	case -ENOMEM:
	case -EMFILE:
	case -ENFILE:
		return EX_FAIL;
	default:
		return EX_NOEXEC;
	}
}

static int run(const char *name, uint32_t n, bool n_given, int64_t wait_ns,
	       unsigned mode, char **cmd)
{
	conc_proc_attr pa = { .daemon = true, .flags = CONC_SPAWN_SETSIGMASK,
			      .sigmask = given_mask };
	conc_fileop shut[3];
	conc_rsem *s;
	bool full;
	int r, st, fd;

	if (get_sem(&s, name, n, n_given, mode))
		return EX_FAIL;
	r = take_permit(s, wait_ns, &full);
	if (r == -ETIMEDOUT && full) {
		tool_err(0, "%s: permits are free, but no place among its holders came free within the wait",
			 name);
		return EX_NOPERMIT;
	}
	if (r == -ETIMEDOUT) {
		tool_err(0, "%s: no permit free within the wait", name);
		return EX_NOPERMIT;
	}
	if (r == 0 || r == -EOWNERDEAD)
		hold_signals();
	if (r == -EOWNERDEAD)	/* the command may want to know */
		setenv("CONC_SEM_OWNER_DIED", "1", 1);
	else if (!r)		/* one inherited (from an outer conc-sem's
				 * command) would tell of another permit */
		unsetenv("CONC_SEM_OWNER_DIED");
	else {
		tool_err(r, "%s: taking a permit", name);
		return EX_FAIL;
	}
	/* Fds 0-2 that conc-sem found closed (and holds on /dev/null) are
	 * closed for the command too: it runs as it would without conc-sem. */
	for (fd = 0; fd < 3; fd++)
		if (tool_closed & 1 << fd)
			shut[pa.nfileops++] = (conc_fileop){ .op = CONC_FILE_CLOSE, .fd = fd };
	pa.fileops = shut;
	/* A daemon child: if conc-sem is killed, its permit comes back and
	 * the command must not go on without it. */
	r = spawn(cmd, &pa);
	if (r) {
		tool_err(r, "%s", cmd[0]);
		conc_rsem_post(s);
		/* A signal held meanwhile ends conc-sem now, the permit back. */
		sigprocmask(SIG_SETMASK, &given_mask, NULL);
		return spawn_status(r);
	}
	pass_held();
	r = conc_proc_join(child, &st, CONC_FOREVER);
	conc_rsem_post(s);
	if (r) {
		tool_err(r, "waiting for %s", cmd[0]);
		return EX_FAIL;
	}
	return WIFEXITED(st) ? WEXITSTATUS(st) : die_as(WTERMSIG(st));
}

/* Whether option a takes the next argument as its value: -n, -w, -m, or
 * --permits, --wait, --mode, also shortened as getopt_long takes them
 * ("--wa 5"; no other long option starts as these do). */
static bool takes_next(const char *a)
{
	static const char *const longs[] = { "--permits", "--wait", "--mode" };
	size_t k, len = strlen(a);

	if (!strcmp(a, "-n") || !strcmp(a, "-w") || !strcmp(a, "-m"))
		return true;
	for (k = 0; len > 2 && k < sizeof(longs) / sizeof(longs[0]); k++)
		if (!strncmp(a, longs[k], len))
			return true;
	return false;
}

/* Where the command starts in a conc-sem's arguments (args[0..n) from
 * /proc/PID/cmdline), parsed as main() does: options, NAME, "--". */
static size_t command_at(char **args, size_t n)
{
	const char *base = strrchr(args[0], '/');
	size_t i;

	if (strcmp(base ? base + 1 : args[0], "conc-sem"))
		return 0;		/* a program of its own */
	for (i = 1; i < n && args[i][0] == '-' && strcmp(args[i], "--"); i++)
		if (takes_next(args[i]))
			i++;
	if (i < n && !strcmp(args[i], "--"))
		i++;
	i++;			/* NAME */
	if (i < n && !strcmp(args[i], "--"))
		i++;
	return i < n ? i : 0;
}

/* The command a holder runs, from /proc (the holder is alive: its pid
 * is its own), newlines shown as spaces. */
static void print_command(pid_t pid)
{
	char path[64], buf[4096], *args[256];
	size_t len, i, n = 0;
	ssize_t got;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	got = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
	if (fd >= 0)
		close(fd);
	if (got <= 0) {
		fputs("?", stdout);
		return;
	}
	len = (size_t)got;
	buf[len] = 0;
	for (i = 0; i < len && n < 256; i += strlen(buf + i) + 1)
		args[n++] = buf + i;
	for (i = command_at(args, n); i < n; i++) {
		for (char *c = args[i]; *c; c++)
			if (*c == '\n')
				*c = ' ';
		printf("%s%s", args[i], i + 1 < n ? " " : "");
	}
}

static int status(const char *name)
{
	conc_rsem_holder h[CONC_RSEM_HOLDERS_MAX];
	conc_rsem *s;
	ssize_t n, i;
	char since[32];
	int r = open_sem(&s, name);

	if (r == -ENOENT) {
		tool_err(0, "%s: no such semaphore", name);
		return EX_MISSING;
	}
	if (r) {
		tool_err(r == -EPROTO ? 0 : r, r == -EPROTO ? "%s: not a semaphore" : "%s", name);
		return EX_FAIL;
	}
	n = conc_rsem_holders(s, h, CONC_RSEM_HOLDERS_MAX);
	printf("%s: %d permits, %d free\n", name, conc_rsem_permits(s),
	       conc_rsem_value(s));
	printf("PID\tPERMITS\tSINCE\tCOMMAND\n");
	for (i = 0; i < n && i < (ssize_t)CONC_RSEM_HOLDERS_MAX; i++) {
		time_t t = (time_t)(h[i].since_ns / 1000000000);
		struct tm tm;

		if (!localtime_r(&t, &tm) ||
		    !strftime(since, sizeof(since), "%Y-%m-%dT%H:%M:%S", &tm))
			strcpy(since, "?");
		printf("%d\t%u\t%s\t", (int)h[i].pid, h[i].count, since);
		print_command(h[i].pid);
		putchar('\n');
	}
	conc_rsem_destroy(s);
	return tool_flush() ? EX_FAIL : 0;
}

static int rm(const char *name)
{
	int r = tool_shm_kind(name, CONC_SHM_RSEM);

	if (r == -ENOENT) {
		tool_err(0, "%s: no such semaphore", name);
		return EX_MISSING;
	}
	if (r == -EPROTO) {
		tool_err(0, "%s: not a semaphore: not removed", name);
		return EX_FAIL;
	}
	if (r) {
		tool_err(r, "%s", name);
		return EX_FAIL;
	}
	r = conc_shm_unlink(name);
	if (r == -ENOENT) {
		tool_err(0, "%s: no such semaphore", name);
		return EX_MISSING;
	}
	if (r) {
		tool_err(r, "removing %s", name);
		return EX_FAIL;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "permits", required_argument, NULL, 'n' },
		{ "wait", required_argument, NULL, 'w' },
		{ "mode", required_argument, NULL, 'm' },
		{ "status", no_argument, NULL, 'S' },
		{ "rm", no_argument, NULL, 'R' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int64_t wait_ns = CONC_FOREVER;
	uint32_t n = 1;
	unsigned mode = 0600;
	bool n_given = false;
	int c, r, what = 0;
	const char *name;

	tool_start("conc-sem", argv);
	sigprocmask(SIG_SETMASK, NULL, &given_mask);
	tool_std_fds();
	/* An ignored SIGCHLD (it survives exec) would have the kernel reap
	 * the command and take its status with it. */
	signal(SIGCHLD, SIG_DFL);
	while ((c = getopt_long(argc, argv, "+n:w:m:hV", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			if (tool_count(optarg, 1, CONC_RSEM_PERMITS_MAX, &n)) {
				tool_err(0, "-n %s: not a number of permits (1 to %u)",
					 optarg, CONC_RSEM_PERMITS_MAX);
				return EX_FAIL;
			}
			n_given = true;
			break;
		case 'w':
			if (tool_seconds(optarg, &wait_ns)) {
				tool_err(0, "-w %s: not a number of seconds", optarg);
				return EX_FAIL;
			}
			break;
		case 'S':
		case 'R':
			if (what && what != c) {	/* not the last one silently */
				tool_err(0, "--status and --rm: one or the other");
				return EX_FAIL;
			}
			what = c;
			break;
		default:
			if ((r = tool_option(c, usage, &mode, EX_FAIL, EX_FAIL)) >= 0)
				return r;
			break;
		}
	}
	if (optind >= argc) {
		tool_err(0, "a semaphore name is needed");
		fputs(usage, stderr);
		return EX_FAIL;
	}
	name = argv[optind++];
	if (!tool_name_ok(name))
		return EX_FAIL;
	tool_guard(name, EX_FAIL);
	if (what) {
		if (optind < argc) {
			tool_err(0, "%s: no command with --status or --rm", argv[optind]);
			return EX_FAIL;
		}
		return what == 'S' ? status(name) : rm(name);
	}
	if (optind < argc && !strcmp(argv[optind], "--"))
		optind++;
	if (optind >= argc) {
		tool_err(0, "%s: a command to run is needed", name);
		fputs(usage, stderr);
		return EX_FAIL;
	}
	return run(name, n, n_given, wait_ns, mode, argv + optind);
}
