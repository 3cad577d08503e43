/* conc-queue — a named message queue (conc_queue_create(3)) for shell
 * scripts; see conc-queue(1). Messages are bytes: any byte but the
 * separator (newline, or NUL with -0) passes through unchanged. */
#include <getopt.h>
#include <unistd.h>
#include "tool.h"

enum {
	EX_EMPTY = 1,		/* get: nothing within TIMEOUT; put: still full */
	EX_USAGE = 2,
	EX_CLOSED = 3,
	EX_MISSING = 4,
	EX_FAIL = 5,
};

#define MSG_LIMIT (1u << 24)	/* the library's bound on max_msg */

static const char usage[] =
	"usage: conc-queue create [-c CAPACITY] [-s MAXMSG] [--mode MODE] NAME\n"
	"       conc-queue put [-0] [-t TIMEOUT] NAME [MSG]...\n"
	"       conc-queue get [-0] [-t TIMEOUT] [-n COUNT] NAME\n"
	"       conc-queue close NAME | stat NAME | rm NAME\n"
	"A named queue of byte messages under /dev/shm. put takes the MSG\n"
	"arguments, or else the lines of stdin (NUL-separated with -0); get\n"
	"prints a message (up to COUNT) each followed by a newline (a NUL with\n"
	"-0), waiting at most TIMEOUT seconds (fractions allowed) for the first\n"
	"(put: for room for all of them, counted from the start).\n"
	"  -c CAPACITY  messages (default 64)   -s MAXMSG  bytes each (default 8192)\n"
	"Exit: 0 done; 1 get: empty after TIMEOUT (put: still full); 2 usage;\n"
	"3 closed (get: closed and empty); 4 no such queue; 5 other failure.\n";

static const char *name;

static int fail(int r, const char *what)
{
	switch (r) {
	case -ENOENT:
		tool_err(0, "%s: no such queue", name);
		return EX_MISSING;
	case -EPROTO:
		tool_err(0, "%s: not a queue (another kind of object, or a damaged one)", name);
		return EX_FAIL;
	case -EPIPE:
		tool_err(0, "%s: %s: the queue is closed", name, what);
		return EX_CLOSED;
	case -ETIMEDOUT:
		return EX_EMPTY;
	default:
		tool_err(r, "%s: %s", name, what);
		return EX_FAIL;
	}
}

/* conc_queue_open(), also of one group or others may write (tool_shm_fd). */
static int open_queue(conc_queue **q)
{
	int r = conc_queue_open(q, name), fd;

	if (r != -EACCES || (fd = tool_shm_fd(name)) < 0)
		return r;
	r = conc_queue_open_fd(q, fd);
	close(fd);
	return r;
}

static int create(uint32_t cap, uint32_t max, unsigned mode)
{
	conc_queue_attr a = { .capacity = cap, .max_msg = max, .name = name,
			      .flags = CONC_SHM_MODE(mode) };
	conc_queue *q;
	int r = open_queue(&q);
	mode_t um;

	if (r == -EPROTO)
		return fail(r, "create");
	if (!r)
		conc_queue_destroy(q);
	um = tool_umask_off();
	r = conc_queue_create(&q, &a);
	/* An existing one group or others may write: opened as it is. */
	if (r == -EACCES && !tool_shm_mode(name, &mode)) {
		a.flags = CONC_SHM_MODE(mode);
		r = conc_queue_create(&q, &a);
	}
	umask(um);
	/* -EINVAL: another geometry, or one too large for a segment (1 TiB):
	 * the name tells which (a peer may have made it meanwhile). */
	if (r == -EINVAL && !open_queue(&q)) {
		conc_queue_destroy(q);
		tool_err(0, "%s: exists with another capacity or message size", name);
		return EX_FAIL;
	}
	if (r == -EINVAL) {
		tool_err(0, "%s: create: %u messages of %u bytes are too many bytes for a queue",
			 name, cap ? cap : 64, max ? max : 8192);
		return EX_FAIL;
	}
	if (r)
		return fail(r, "create");
	conc_queue_destroy(q);
	return 0;
}

static int put_one(conc_queue *q, const char *m, size_t len, int64_t t)
{
	int r = conc_queue_put(q, m, len, t);

	if (r == -EMSGSIZE) {
		tool_err(0, "%s: put: a message of %zu bytes is longer than the queue takes",
			 name, len);
		return EX_FAIL;
	}
	if (r == -ETIMEDOUT)
		tool_err(0, "%s: put: still full after the timeout", name);
	return r ? fail(r, "put") : 0;
}

/* A record of stdin up to sep, as getdelim(3), but of at most max + 1
 * bytes: a longer one is too long for any queue, and a stream without a
 * separator (/dev/zero, a binary file) would otherwise be read whole into
 * memory before put said so. Returns its length (with sep if it ended
 * there; more than max if cut short), -1 at the end of the input (or on
 * a read error: ferror), or -ENOMEM. */
static ssize_t read_record(char **buf, size_t *cap, int sep, size_t max)
{
	size_t len = 0;
	int c;

	while (len <= max) {
		if (len + 1 > *cap) {
			size_t n = *cap ? *cap * 2 : 256;
			char *b = realloc(*buf, n);

			if (!b)
				return -ENOMEM;
			*buf = b;
			*cap = n;
		}
		if ((c = getc_unlocked(stdin)) == EOF)
			break;
		(*buf)[len++] = (char)c;
		if (c == sep)
			break;
	}
	return len ? (ssize_t)len : -1;
}

/* -t is a deadline for the whole command, as timeout(1) gives: each
 * message waits for room only for what is left of it. */
static int put(conc_queue *q, char **msgs, int n, int sep, int64_t t)
{
	int64_t end = tool_end(t);
	char *line = NULL;
	size_t cap = 0;
	ssize_t len = 0;
	int i, ex = 0;

	for (i = 0; i < n && !ex; i++)
		ex = put_one(q, msgs[i], strlen(msgs[i]), tool_left(end));
	if (n)
		return ex;
	if (tool_closed & 1) {	/* not an empty input: no input at all */
		tool_err(EBADF, "%s: put: reading stdin", name);
		return EX_FAIL;
	}
	while (!ex && (len = read_record(&line, &cap, sep, MSG_LIMIT)) >= 0) {
		if (len && line[len - 1] == sep)
			len--;
		if (len > MSG_LIMIT) {
			tool_err(0, "%s: put: a message of more than %u bytes is longer than the queue takes",
				 name, MSG_LIMIT);
			ex = EX_FAIL;
			break;
		}
		ex = put_one(q, line, (size_t)len, tool_left(end));
	}
	if (!ex && (len == -ENOMEM || ferror(stdin))) {
		tool_err(len == -ENOMEM ? ENOMEM : errno, "%s: put: reading stdin", name);
		ex = EX_FAIL;
	}
	free(line);
	return ex;
}

static int write_all(const char *p, size_t n)
{
	ssize_t w;

	while (n) {
		w = write(1, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -errno;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Messages leave the queue only once written out: a get that cannot
 * write (or is killed first) leaves its message for the next. */
static int get(conc_queue *q, uint32_t count, int sep, int64_t t)
{
	size_t cap = 65536;
	char *buf = malloc(cap + 1);
	int64_t end = tool_end(t);
	uint32_t got = 0;
	ssize_t n = 0;
	int r;

	/* -t bounds the wait for the first message, however many times a
	 * larger buffer has it taken again (another getter may have had it
	 * meanwhile); the rest are taken only if there. */
	while (buf && got < count) {
		n = conc_queue_get_begin(q, buf, cap, got ? 0 : tool_left(end));
		if (n == -EMSGSIZE && cap < MSG_LIMIT) {
			char *b = realloc(buf, cap * 4 + 1);

			if (b) {
				buf = b;
				cap *= 4;
			}
			if (b)
				continue;
		}
		if (n < 0)
			break;
		buf[n] = (char)sep;
		r = write_all(buf, (size_t)n + 1);
		if (r) {
			conc_queue_get_abort(q);
			tool_err(r, "%s: get: writing out", name);
			free(buf);
			return EX_FAIL;
		}
		conc_queue_get_commit(q);
		got++;
	}
	free(buf);
	if (!buf)
		return fail(-ENOMEM, "get");
	if (got)
		return 0;
	return fail((int)n, "get");
}

#define OPTS "cstn0m"		/* the options of one command or another */

/* Whether cmd takes option c (an option of another command is a mistake
 * to say, not to ignore: -t given to close would not wait). */
static bool takes(const char *cmd, int c)
{
	return (!strcmp(cmd, "create") && strchr("csm", c)) ||
	       (!strcmp(cmd, "put") && strchr("t0", c)) ||
	       (!strcmp(cmd, "get") && strchr("tn0", c));
}

static int print_stat(conc_queue *q)
{
	ssize_t n = conc_queue_size(q);

	if (n < 0)
		return fail((int)n, "stat");
	printf("messages %zd\n", n);
	return tool_flush() ? EX_FAIL : 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "capacity", required_argument, NULL, 'c' },
		{ "max-msg", required_argument, NULL, 's' },
		{ "timeout", required_argument, NULL, 't' },
		{ "count", required_argument, NULL, 'n' },
		{ "null", no_argument, NULL, '0' },
		{ "mode", required_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	uint32_t cap = 0, max = 0, count = 1;
	int64_t t = CONC_FOREVER;
	unsigned mode = 0600;
	int c, sep = '\n', r, closed;
	unsigned given = 0;		/* a bit per option of OPTS seen */
	const char *cmd;
	conc_queue *q;

	tool_start("conc-queue", argv);
	closed = tool_std_fds();
	/* The command comes first; its options follow it. */
	if (argc > 1 && argv[1][0] != '-') {
		cmd = argv[1];
		argv[1] = argv[0];
		argc--;
		argv++;
	} else {
		cmd = NULL;
	}
	while ((c = getopt_long(argc, argv, "c:s:t:n:0m:hV", opts, NULL)) != -1) {
		if (c && strchr(OPTS, c))
			given |= 1u << (strchr(OPTS, c) - OPTS);
		switch (c) {
		case 'c':
		case 's':
		case 'n':
			if (tool_count(optarg, 1, c == 'n' ? UINT32_MAX : MSG_LIMIT,
				       c == 'c' ? &cap : c == 's' ? &max : &count)) {
				tool_err(0, "-%c %s: not a number in range", c, optarg);
				return EX_USAGE;
			}
			break;
		case 't':
			if (tool_seconds(optarg, &t)) {
				tool_err(0, "-t %s: not a number of seconds", optarg);
				return EX_USAGE;
			}
			break;
		case '0':
			sep = 0;
			break;
		default:
			if ((r = tool_option(c, usage, &mode, EX_USAGE, EX_FAIL)) >= 0)
				return r;
			break;
		}
	}
	if (!cmd || optind >= argc) {
		tool_err(0, cmd ? "%s: a queue name is needed" : "a command is needed", cmd);
		fputs(usage, stderr);
		return EX_USAGE;
	}
	name = argv[optind++];
	if (!tool_name_ok(name))
		return EX_USAGE;
	tool_guard(name, EX_FAIL);
	for (c = 0; OPTS[c]; c++)
		if ((given & 1u << c) && !takes(cmd, OPTS[c])) {
			tool_err(0, "%s: %s does not take -%c", name, cmd, OPTS[c]);
			return EX_USAGE;
		}
	if (strcmp(cmd, "put") && optind < argc) {
		tool_err(0, "%s: %s takes no more arguments", argv[optind], cmd);
		return EX_USAGE;
	}
	if (!strcmp(cmd, "get") && (closed & 2)) {
		tool_err(0, "%s: get: standard output is closed: nothing taken", name);
		return EX_FAIL;
	}
	if (!strcmp(cmd, "create"))
		return create(cap, max, mode);
	if (!strcmp(cmd, "rm")) {
		r = tool_shm_kind(name, CONC_SHM_QUEUE);
		if (!r)
			r = conc_shm_unlink(name);
		return r ? fail(r, "rm") : 0;
	}
	if (strcmp(cmd, "put") && strcmp(cmd, "get") && strcmp(cmd, "close") &&
	    strcmp(cmd, "stat")) {
		tool_err(0, "%s: not a command (create, put, get, close, stat, rm)", cmd);
		return EX_USAGE;
	}
	r = open_queue(&q);
	if (r)
		return fail(r, cmd);
	if (!strcmp(cmd, "put"))
		r = put(q, argv + optind, argc - optind, sep, t);
	else if (!strcmp(cmd, "get"))
		r = get(q, count, sep, t);
	else if (!strcmp(cmd, "close"))
		r = (r = conc_queue_close(q)) ? fail(r, "close") : 0;
	else
		r = print_stat(q);
	conc_queue_destroy(q);
	return r;
}
