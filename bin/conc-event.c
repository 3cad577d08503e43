/* conc-event — a named event (conc_event_wait(3)) for shell scripts; see
 * conc-event(1). The event is a conc_event at the start of a segment of
 * its own kind under /dev/shm: zeroed, it is a valid event, not set. */
#include <getopt.h>
#include "tool.h"

#define EVENT_SIZE	64

enum {
	EX_NOTSET = 1,		/* wait: timeout; status: not set */
	EX_USAGE = 2,
	EX_MISSING = 4,
	EX_FAIL = 5,
};

static const char usage[] =
	"usage: conc-event set [--mode MODE] NAME\n"
	"       conc-event clear [--mode MODE] NAME\n"
	"       conc-event wait [-t TIMEOUT] NAME\n"
	"       conc-event status NAME\n"
	"       conc-event rm NAME\n"
	"A named event under /dev/shm: set and clear create it if missing (mode\n"
	"600 unless --mode); wait returns when it is set (at most TIMEOUT seconds,\n"
	"fractions allowed); status prints set or clear.\n"
	"Exit: 0 done (wait: set; status: set); 1 wait timed out, or status: clear;\n"
	"2 usage; 4 no such event; 5 other failure.\n";

static int fail(int r, const char *name)
{
	if (r == -ENOENT) {
		tool_err(0, "%s: no such event", name);
		return EX_MISSING;
	}
	if (r == -EPROTO || r == -EINVAL) {
		tool_err(0, "%s: not an event (another kind of object)", name);
		return EX_FAIL;
	}
	tool_err(r, "%s", name);
	return EX_FAIL;
}

static conc_event *event_in(conc_shm *seg)
{
	return conc_shm_at(seg, 0, sizeof(conc_event), 4);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "timeout", required_argument, NULL, 't' },
		{ "mode", required_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int64_t timeout = CONC_FOREVER;
	unsigned mode = 0600;
	const char *cmd, *name;
	bool timed = false, moded = false;
	conc_shm *seg;
	conc_event *e;
	int c, r, fd;

	tool_start("conc-event", argv);
	tool_std_fds();
	while ((c = getopt_long(argc, argv, "t:m:hV", opts, NULL)) != -1) {
		switch (c) {
		case 't':
			if (tool_seconds(optarg, &timeout)) {
				tool_err(0, "-t %s: not a number of seconds", optarg);
				return EX_USAGE;
			}
			timed = true;
			break;
		default:
			if ((r = tool_option(c, usage, &mode, EX_USAGE, EX_FAIL)) >= 0)
				return r;
			moded |= c == 'm';
			break;
		}
	}
	if (argc - optind != 2) {
		tool_err(0, argc - optind < 2 ? "a command and a name are needed"
					      : "%s: one name only", argv[argc - 1]);
		fputs(usage, stderr);
		return EX_USAGE;
	}
	cmd = argv[optind];
	name = argv[optind + 1];
	if (strcmp(cmd, "set") && strcmp(cmd, "clear") && strcmp(cmd, "wait") &&
	    strcmp(cmd, "status") && strcmp(cmd, "rm")) {
		tool_err(0, "%s: not a command (set, clear, wait, status, rm)", cmd);
		return EX_USAGE;
	}
	if ((timed && strcmp(cmd, "wait")) ||
	    (moded && strcmp(cmd, "set") && strcmp(cmd, "clear"))) {
		tool_err(0, "%s: %s does not take that option", cmd, timed ? "-t" : "--mode");
		return EX_USAGE;
	}
	if (!tool_name_ok(name))
		return EX_USAGE;
	tool_guard(name, EX_FAIL);
	if (!strcmp(cmd, "set") || !strcmp(cmd, "clear")) {
		mode_t um = tool_umask_off();

		r = conc_shm_create(&seg, name, EVENT_SIZE, CONC_SHM_EVENT,
				    CONC_SHM_MODE(mode));
		umask(um);
	} else
		r = conc_shm_open(&seg, name, CONC_SHM_EVENT);
	/* One group or others may write (--mode 660): opened by its fd. */
	if (r == -EACCES && (fd = tool_shm_fd(name)) >= 0) {
		r = conc_shm_open_fd(&seg, fd, CONC_SHM_EVENT);
		close(fd);
	}
	if (r)
		return fail(r, name);
	e = event_in(seg);
	if (!e)
		return fail(-EPROTO, name);
	if (!strcmp(cmd, "set"))
		r = conc_event_set(e);
	else if (!strcmp(cmd, "clear"))
		r = conc_event_clear(e);
	else if (!strcmp(cmd, "wait"))
		r = conc_event_wait(e, timeout);
	else if (!strcmp(cmd, "status")) {
		bool set = conc_event_is_set(e);

		puts(set ? "set" : "clear");
		r = set ? 0 : -ETIMEDOUT;
		if (tool_flush()) {	/* the answer did not reach the reader */
			conc_shm_close(seg);
			return EX_FAIL;
		}
	} else
		r = conc_shm_unlink(name);
	conc_shm_close(seg);
	if (r == -ETIMEDOUT)
		return EX_NOTSET;
	return r ? fail(r, name) : 0;
}
