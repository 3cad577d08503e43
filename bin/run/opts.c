/* Options: getopt_long up to the command (the first word that is not an
 * option), then the command's words up to ::: or ::::, then the sources. */
#include <limits.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "opts.h"

enum {
	O_LINEBUF = 256, O_TAG, O_COLSEP, O_PIPE, O_BLOCK, O_RECEND, O_JOBLOG,
	O_RESUME, O_RESUME_FAILED, O_TIMEOUT, O_RETRIES, O_HALT, O_DRY,
	O_DELAY, O_BAR, O_PROGRESS, O_ETA, O_HELP, O_VERSION, O_SLF, O_SSH,
	O_TF, O_RETURN, O_CLEANUP, O_TRC, O_TAGSTRING, O_XARGS, O_MAXLINES,
	O_RESULTS, O_TRANSFER, O_NICE, O_ER, O_ARGSEP, O_FILESEP, O_UNSUP,
};

/* With GNU parallel's other names for them (its --jl, --keeporder,
 * --max-procs, ...), which scripts written for it use. */
static const struct option longopts[] = {
	{ "jobs", required_argument, NULL, 'j' },
	{ "max-procs", required_argument, NULL, 'j' },
	{ "maxprocs", required_argument, NULL, 'j' },
	{ "keep-order", no_argument, NULL, 'k' },
	{ "keeporder", no_argument, NULL, 'k' },
	{ "ungroup", no_argument, NULL, 'u' },
	{ "line-buffer", no_argument, NULL, O_LINEBUF },
	{ "line-buffered", no_argument, NULL, O_LINEBUF },
	{ "linebuffer", no_argument, NULL, O_LINEBUF },
	{ "linebuffered", no_argument, NULL, O_LINEBUF },
	{ "lb", no_argument, NULL, O_LINEBUF },
	{ "tag", no_argument, NULL, O_TAG },
	{ "tagstring", required_argument, NULL, O_TAGSTRING },
	{ "tag-string", required_argument, NULL, O_TAGSTRING },
	{ "quote", no_argument, NULL, 'q' },
	{ "null", no_argument, NULL, '0' },
	{ "no-run-if-empty", no_argument, NULL, 'r' },
	/* GNU parallel's --verbose is its -t (stderr), not its -v. */
	{ "verbose", no_argument, NULL, 't' },
	{ "norunifempty", no_argument, NULL, 'r' },
	{ "delimiter", required_argument, NULL, 'd' },
	{ "max-args", required_argument, NULL, 'n' },
	{ "maxargs", required_argument, NULL, 'n' },
	{ "max-replace-args", required_argument, NULL, 'N' },
	{ "maxreplaceargs", required_argument, NULL, 'N' },
	{ "xargs", no_argument, NULL, O_XARGS },
	{ "max-lines", optional_argument, NULL, O_MAXLINES },
	{ "maxlines", optional_argument, NULL, O_MAXLINES },
	{ "results", required_argument, NULL, O_RESULTS },
	{ "result", required_argument, NULL, O_RESULTS },
	{ "res", required_argument, NULL, O_RESULTS },
	{ "replace", optional_argument, NULL, 'i' },
	{ "extensionreplace", required_argument, NULL, O_ER },
	{ "er", required_argument, NULL, O_ER },
	{ "arg-sep", required_argument, NULL, O_ARGSEP },
	{ "argsep", required_argument, NULL, O_ARGSEP },
	{ "arg-file-sep", required_argument, NULL, O_FILESEP },
	{ "argfilesep", required_argument, NULL, O_FILESEP },
	/* GNU parallel's, refused by name rather than as unknown. */
	{ "recstart", required_argument, NULL, O_UNSUP },
	{ "arg-file", required_argument, NULL, 'a' },
	{ "argfile", required_argument, NULL, 'a' },
	{ "colsep", required_argument, NULL, O_COLSEP },
	{ "col-sep", required_argument, NULL, O_COLSEP },
	{ "pipe", no_argument, NULL, O_PIPE },
	{ "spreadstdin", no_argument, NULL, O_PIPE },
	{ "block", required_argument, NULL, O_BLOCK },
	{ "block-size", required_argument, NULL, O_BLOCK },
	{ "blocksize", required_argument, NULL, O_BLOCK },
	{ "recend", required_argument, NULL, O_RECEND },
	{ "joblog", required_argument, NULL, O_JOBLOG },
	{ "jl", required_argument, NULL, O_JOBLOG },
	{ "resume", no_argument, NULL, O_RESUME },
	{ "resume-failed", no_argument, NULL, O_RESUME_FAILED },
	{ "resumefailed", no_argument, NULL, O_RESUME_FAILED },
	{ "timeout", required_argument, NULL, O_TIMEOUT },
	{ "retries", required_argument, NULL, O_RETRIES },
	{ "halt", required_argument, NULL, O_HALT },
	{ "halt-on-error", required_argument, NULL, O_HALT },
	{ "haltonerror", required_argument, NULL, O_HALT },
	{ "dry-run", no_argument, NULL, O_DRY },
	{ "dryrun", no_argument, NULL, O_DRY },
	{ "dr", no_argument, NULL, O_DRY },
	{ "delay", required_argument, NULL, O_DELAY },
	{ "bar", no_argument, NULL, O_BAR },
	{ "progress", no_argument, NULL, O_PROGRESS },
	{ "eta", no_argument, NULL, O_ETA },
	{ "sshlogin", required_argument, NULL, 'S' },
	{ "sshloginfile", required_argument, NULL, O_SLF },
	{ "slf", required_argument, NULL, O_SLF },
	{ "ssh", required_argument, NULL, O_SSH },
	{ "transferfile", required_argument, NULL, O_TF },
	{ "transferfiles", required_argument, NULL, O_TF },
	{ "transfer-file", required_argument, NULL, O_TF },
	{ "transfer-files", required_argument, NULL, O_TF },
	{ "tf", required_argument, NULL, O_TF },
	{ "transfer", no_argument, NULL, O_TRANSFER },	/* --tf {} */
	{ "return", required_argument, NULL, O_RETURN },
	{ "cleanup", no_argument, NULL, O_CLEANUP },
	{ "trc", required_argument, NULL, O_TRC },
	{ "nice", required_argument, NULL, O_NICE },
	{ "max-chars", required_argument, NULL, 's' },
	{ "maxchars", required_argument, NULL, 's' },
	{ "help", no_argument, NULL, O_HELP },
	{ "version", no_argument, NULL, O_VERSION },
	{ NULL, 0, NULL, 0 },
};

static const char usage[] =
"usage: conc-run [options] [command [arg...]] [::: arg... | :::: file...]...\n"
"Run command once per input, in parallel (GNU parallel's syntax).\n"
"\n"
"Inputs: ::: words (several: every combination), :::: files (- is stdin),\n"
"  else the lines of stdin; -a FILE; -0/--null; -d DELIM; -n N args per job;\n"
"  --arg-sep STR, --arg-file-sep STR: STR instead of ::: and of ::::;\n"
"  -r/--no-run-if-empty: inputs of white space only skipped;\n"
"  -N N: N args per job, {} and the words around it once per arg;\n"
"  -X: as many as the line length allows, in context as -N; -m: not in\n"
"  context; --xargs: as -m, the last line not spread over the -j slots;\n"
"  -L N: N lines per job, in context, a line ending in a blank goes on;\n"
"  -l/--max-lines [N]: the same, not in context;\n"
"  -s/--max-chars N: lines (GNU parallel's estimate) shorter than N;\n"
"  --colsep REGEX splits each input into columns.\n"
"Replacement strings: {} {.} {/} {//} {/.} {#} {%} {N} {N.} {N/} {N//} {N/.},\n"
"  {-N}... counted from the last; no replacement string: the arguments are\n"
"  appended. Commands run with /bin/sh -c, arguments quoted; -q/--quote\n"
"  runs the words without a shell.\n"
"  -I STR: STR is {} ({} and {N} are then text); --replace [STR], -i[STR].\n"
"  --er STR: STR is {.} ({.} and {N.} are then text); --extensionreplace.\n"
"\n"
"  -j, --jobs N|0|P%|+N|-N   jobs at once (default: CPUs; 0: as many as can)\n"
"  -k, --keep-order          print the jobs' output in input order\n"
"  -u, --ungroup             output straight through (lines may mix)\n"
"      --line-buffer         print complete lines as they come\n"
"  -v                        print each command line before its output\n"
"  -t, --verbose             print each command line on stderr as it starts\n"
"      --tag                 prefix each line with the arguments and a tab\n"
"      --tagstring STR       the same with STR, replacement strings expanded\n"
"      --pipe                split stdin into chunks for the jobs' stdin\n"
"                            (-n N: N records a chunk)\n"
"      --block SIZE          chunk size (default 1M; K M G: 1024s, k m g: 1000s)\n"
"      --recend STR          record end for --pipe (default newline)\n"
"      --joblog FILE         log every job (GNU parallel's columns)\n"
"      --results DIR         each job's stdout, stderr, seq in DIR/1/VALUE/\n"
"      --resume              skip the jobs FILE logs; --resume-failed: rerun\n"
"                            the failed ones\n"
"      --timeout SECS        TERM a job after SECS, KILL it 1 s later;\n"
"                            P%% of the median run time\n"
"      --retries N           run a failing job up to N times (0: no end)\n"
"      --halt now|soon,fail=N|success=N|done=N|fail=P%%\n"
"      --delay SECS          between job starts\n"
"      --nice N              run the jobs (and conc-run) at niceness N\n"
"      --dry-run             print the commands, run nothing\n"
"      --bar, --progress, --eta  on a terminal\n"
"  -S, --sshlogin [N/]LOGIN,...  run jobs on other hosts through ssh (: is\n"
"                            this one; LOGIN: host, user@host, or an ssh\n"
"                            command ending with the host)\n"
"      --sshloginfile FILE   one LOGIN a line; --ssh CMD instead of ssh\n"
"      --transferfile F, --return F, --cleanup, --trc F  files to and from\n"
"  -h, --help; -V, --version\n"
"\n"
"Exit: 0 all succeeded, 1-100 that many failed, 101 more, 255 error;\n"
"with --halt fail=1 the failing job's status.\n";


/* --results: a plain directory name only (GNU's .csv, .tsv and .json
 * files, and names made of replacement strings, are not done). Its files
 * take the output: -u and --line-buffer have nothing to print (GNU
 * parallel's --line-buffer prints the stdout files' names). */
static void results_check(struct opts *o)
{
	const char *r = o->results;
	size_t l = strlen(r);

	if (!l)
		opt_bad("bad --results", "''");
	if (l >= 4 && (!strcasecmp(r + l - 4, ".csv") ||
		       !strcasecmp(r + l - 4, ".tsv")))
		opt_bad("--results to a .csv or .tsv file", "not supported");
	if (l >= 5 && !strcasecmp(r + l - 5, ".json"))
		opt_bad("--results to a .json file", "not supported");
	for (const char *p = r; *p; p++) {
		int col, mod;

		if (cmd_rpl(p, &col, &mod))
			opt_bad("--results with a replacement string",
				"not supported");
	}
	o->res_names = o->linebuf;
	o->ungroup = o->linebuf = false;
}

static void push(char ***v, int *n, const char *s)
{
	*v = run_realloc(*v, sizeof(**v) * (size_t)(*n + 1));
	(*v)[(*n)++] = run_strdup(s);
}

/* -S a,b,c: one login each; ",," or a backslash before the comma keeps
 * it in the login. */
static void logins(struct opts *o, const char *s)
{
	char *buf = run_alloc(strlen(s) + 1), *w = buf;

	for (;; s++) {
		if ((*s == ',' && s[1] == ',') || (*s == '\\' && s[1] == ',')) {
			*w++ = ',';
			s++;
			continue;
		}
		if (*s && *s != ',' && *s != '\n') {
			*w++ = *s;
			continue;
		}
		*w = 0;
		if (*buf)
			push(&o->login, &o->nlogin, buf);
		w = buf;
		if (!*s)
			break;
	}
	free(buf);
}

static void login_file(struct opts *o, const char *path)
{
	FILE *f = fopen(path, "re");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	if (!f) {
		char what[512];

		snprintf(what, sizeof(what), "cannot open %s", path);
		run_die(what, -errno);
	}
	while ((n = getline(&line, &cap, f)) > 0) {
		if (line[n - 1] == '\n')
			line[--n] = 0;
		if (*line && *line != '#')
			push(&o->login, &o->nlogin, line);
	}
	free(line);
	fclose(f);
}

/* ::: and :::: unless --arg-sep and --arg-file-sep name others (the
 * old ones are then words), as GNU parallel. */
static const char *arg_sep = ":::", *file_sep = "::::";

/* s is sep, or sep+ (*linked)? */
static bool sep_is(const char *s, const char *sep, bool *linked)
{
	size_t l = strlen(sep);

	if (strncmp(s, sep, l) || (s[l] && strcmp(s + l, "+")))
		return false;
	*linked = s[l] != 0;
	return true;
}

/* 2: s starts :::: files, 1: ::: words, 0: neither. */
static int sep_kind(const char *s, bool *linked)
{
	return sep_is(s, file_sep, linked) ? 2 :
	       sep_is(s, arg_sep, linked) ? 1 : 0;
}

static bool is_sep(const char *s)
{
	bool linked;

	return sep_kind(s, &linked) != 0;
}

/* ::: words; as GNU parallel, a word with the delimiter in it (a
 * newline, or -d's) is that many inputs, "a\n" two: a and "". */
static struct src words(char **w, int n, char delim)
{
	struct src src = { .v = w, .n = (size_t)n };
	size_t k = 0, cap = 0;

	for (int i = 0; i < n; i++)
		for (const char *p = w[i]; delim && (p = strchr(p, delim)); p++)
			cap++;
	if (!cap)
		return src;
	src.v = run_alloc(sizeof(*src.v) * (cap + (size_t)n));
	for (int i = 0; i < n; i++) {
		const char *p = w[i], *e;

		while ((e = strchr(p, delim))) {
			src.v[k] = run_alloc((size_t)(e - p) + 1);
			memcpy(src.v[k], p, (size_t)(e - p));
			src.v[k++][e - p] = 0;
			p = e + 1;
		}
		src.v[k++] = (char *)p;
	}
	src.n = k;
	return src;
}

/* The words after the command: ::: words, :::: files; with a + the
 * source goes along with the one before instead of across it. As GNU
 * parallel, a + counts sources from the first, -a files included, as if
 * they were not there: after one -a file, the + of the second source
 * given here links the first one to the -a file. */
static void sources(struct opts *o, char **w, int n)
{
	int i = 0, here = 0;

	o->src = run_alloc(sizeof(*o->src) * (size_t)(n + o->nargfile + 1));
	for (int k = 0; k < o->nargfile; k++)
		o->src[o->nsrc++] = (struct src){ .file = o->argfile[k] };
	while (i < n) {
		bool linked;
		bool files = sep_kind(w[i], &linked) == 2;
		int s = ++i;

		while (i < n && !is_sep(w[i]))
			i++;
		int at = here;

		if (files) {
			for (int k = s; k < i; k++, here++)
				o->src[o->nsrc++] = (struct src){ .file = w[k] };
		} else {
			o->src[o->nsrc++] = words(w + s, i - s, o->delim);
			here++;
		}
		if (linked && here > at)	/* a source was added */
			o->src[at].linked = true;
	}
}

static _Noreturn void version(void)
{
	printf(PROG " %s (libconc %s)\n", CONC_VERSION, CONC_VERSION);
	exit(0);
}

void opts_parse(struct opts *o, int argc, char **argv)
{
	size_t rl = 1;
	long nargs = -1, nrepl = -1;
	int x = 0;	/* -X 1, -m 2, --xargs 4 */
	long lines = -1;	/* -L, --max-lines */
	int li = 0;
	bool lctx = false;	/* -L: in context */
	int c, i;

	memset(o, 0, sizeof(*o));
	o->jobs = opt_cpus();
	o->delim = '\n';
	o->block = 1024 * 1024;
	o->recend = "\n";
	o->recend_len = 1;
	o->retries = 1;
	o->ssh = getenv("PARALLEL_SSH") ? getenv("PARALLEL_SSH") : "ssh";
	opterr = 0;
	/* '+': the first word that is not an option starts the command. */
	while ((c = getopt_long(argc, argv, "+:j:P:kuq0rvtd:s:n:N:a:C:S:hVXmL:l::I:i::", longopts,
				&li)) != -1) {
		switch (c) {
		case 'j': case 'P': o->jobs = opt_jobs(optarg); break;
		case 'k': o->keep = true; break;
		case 'u': o->ungroup = true; break;
		case O_LINEBUF: o->linebuf = true; break;
		case O_TAG: o->tag = true; break;
		case O_TAGSTRING:
			free((char *)o->tagstr);
			o->tagstr = opt_printf(optarg);
			o->tag = true;
			break;
		case 'q': o->quote = true; break;
		case '0': o->delim = 0; break;
		case 'r': o->noempty = true; break;
		case 'v': o->verbose = true; break;
		case 't': o->trace = true; break;
		case 'd': {
			size_t l;
			char *d = opt_unescape(optarg, &l, true);

			if (l != 1)
				opt_bad("-d takes one character", optarg);
			o->delim = *d;
			free(d);
			break;
		}
		case 'n': nargs = opt_num("bad -n", optarg, 0); break;
		case 'N': nrepl = opt_num("bad -N", optarg, 0); break;
		case 'X': x |= 1; break;
		case 'm': x |= 2; break;
		case O_XARGS: x |= 4; break;
		case 'L': lines = opt_num("bad -L", optarg, 0); lctx = true; break;
		case 'l': case O_MAXLINES:
			/* GNU's --max-lines: 1 if not given or 0. */
			/* Its value may be the next word, if a number. */
			if (!optarg && optind < argc && argv[optind][0] &&
			    strspn(argv[optind], "0123456789") ==
			    strlen(argv[optind]))
				optarg = argv[optind++];
			lines = optarg ? opt_num("bad --max-lines", optarg, 0) : 1;
			lines += !lines;
			break;
		case 'i':
			/* GNU's --replace [STR]: the next word is STR unless
			 * it is an option ("-" is not); none: {}. */
			if (!optarg && optind < argc &&
			    (argv[optind][0] != '-' || !argv[optind][1]))
				optarg = argv[optind++];
			if (optarg && !*optarg)	/* --replace= */
				optarg = NULL;
			/* fall through */
		case 'I':
			if (optarg && !*optarg)
				opt_bad("bad -I", "''");
			/* -I {}: as without it. */
			cmd_replace = optarg && strcmp(optarg, "{}") ? optarg : NULL;
			break;
		case O_ARGSEP: arg_sep = optarg; break;
		case O_FILESEP: file_sep = optarg; break;
		case O_ER:
			/* GNU parallel's --er '' hangs: an error here. */
			if (!*optarg)
				opt_bad("bad --er", "''");
			cmd_extreplace = strcmp(optarg, "{.}") ? optarg : NULL;
			break;
		case 'a': push(&o->argfile, &o->nargfile, optarg); break;
		case 'C': case O_COLSEP: {
			size_t l;
			char *re = opt_unescape(optarg, &l, false);
			int r;

			if (l != strlen(re) || !l)
				opt_bad("bad --colsep", optarg);
			if ((r = regcomp(&o->colsep, re, REG_EXTENDED))) {
				char msg[128];

				regerror(r, &o->colsep, msg, sizeof(msg));
				fprintf(stderr, PROG ": bad --colsep: %s\n", msg);
				exit(RUN_EXIT_ERROR);
			}
			free(re);
			o->colsep_set = true;
			break;
		}
		case O_PIPE: o->pipe = true; break;
		case O_BLOCK: o->block = opt_size("bad --block", optarg); break;
		case O_RECEND:
			o->recend = opt_unescape(optarg, &rl, true);
			o->recend_len = rl;	/* '': blocks of exactly --block */
			break;
		case O_JOBLOG: o->joblog = optarg; break;
		case O_RESULTS: o->results = optarg; break;
		case O_RESUME: o->resume = true; break;
		case O_RESUME_FAILED: o->resume = o->resume_failed = true; break;
		case O_TIMEOUT:
			if (optarg[0] && optarg[strlen(optarg) - 1] == '%')
				o->timeout_pct = opt_pct("bad --timeout",
							 optarg) / 100;
			else
				o->timeout_ns = opt_secs("bad --timeout",
							 optarg);
			break;
		case O_RETRIES:
			o->retries = opt_num("bad --retries", optarg, 0);
			if (o->retries == 0)	/* as GNU parallel: no end */
				o->retries = LONG_MAX;
			break;
		case O_HALT: opt_halt(&o->halt, optarg); break;
		case O_DRY: o->dry = true; break;
		case 's':
			/* GNU parallel's -s 0: its own limit. */
			o->max_chars = strcmp(optarg, "0") ?
				       opt_size("bad -s", optarg) : 0;
			break;
		case O_NICE:
			/* As GNU parallel's setpriority: clamped; 0 is none. */
			o->nice = opt_num("bad --nice", optarg, LONG_MIN);
			o->nice = o->nice < -20 ? -20 : o->nice > 19 ? 19 : o->nice;
			break;
		case O_DELAY: o->delay_ns = opt_secs("bad --delay", optarg); break;
		case O_BAR: o->bar = true; break;
		case O_PROGRESS: o->progress = true; break;
		case O_ETA: o->eta = true; break;
		case 'S': logins(o, optarg); break;
		case O_SLF: login_file(o, optarg); break;
		case O_SSH: o->ssh = optarg; break;
		case O_TF: push(&o->tf, &o->ntf, optarg); break;
		case O_TRANSFER: push(&o->tf, &o->ntf, "{}"); break;
		case O_RETURN: push(&o->ret, &o->nret, optarg); break;
		case O_CLEANUP: o->cleanup = true; break;
		case O_TRC:
			push(&o->tf, &o->ntf, "{}");
			push(&o->ret, &o->nret, optarg);
			o->cleanup = true;
			break;
		case O_UNSUP: {
			char name[32];

			snprintf(name, sizeof(name), "--%s", longopts[li].name);
			opt_bad(name, "not supported");
		}
		case 'h': case O_HELP: fputs(usage, stdout); exit(0);
		case 'V': case O_VERSION: version(); /* fall through: never */
		case ':':
			opt_bad("option needs a value", argv[optind - 1]);
		default:
			opt_bad("unknown option", optopt ? (char[]){ '-', (char)optopt, 0 }
					     : argv[optind - 1]);
		}
	}
	/* As GNU parallel: -N over -n, whatever their order; -N puts the
	 * arguments in context. */
	/* -L N: N lines a job (unless -n says), in context unless -m or
	 * --xargs; --max-lines N the same, not in context; an input line
	 * that ends in white space goes on with the next. -L 0 is -N 0. */
	if (lines >= 0) {
		if (nargs <= 0)
			nargs = lines;
		o->ctx = lctx && !(x & 6);
		o->join = lines > 0;
	}
	if (nrepl >= 0) {
		nargs = nrepl;
		o->ctx = true;
	}
	/* -X: context replace, -m: not, both spread the last line's
	 * arguments over the slots; --xargs: neither. With --pipe GNU
	 * ignores them. */
	if (x && !o->pipe) {
		o->fill = true;
		o->ctx |= x & 1;
		o->spread = x & 3;
	}
	if (nargs >= 0) {
		o->nargs = nargs;
		o->noargs = !nargs;
	}
	/* -s over GNU parallel's own limit: that limit, and its warning. */
	if (o->max_chars && o->max_chars > cmd_len_max()) {
		fprintf(stderr, PROG ": Warning: Value for option -s should be < %zu.\n",
			cmd_len_max());
		o->max_chars = 0;
	}
	if (o->resume && !o->joblog)
		opt_bad("--resume needs", "--joblog FILE");
	if (o->resume && !strcmp(o->joblog, "-"))
		opt_bad("--resume needs a --joblog file", "-");
	o->cmd = argv + optind;
	for (i = optind; i < argc && !is_sep(argv[i]); i++)
		o->ncmd++;
	/* As GNU parallel: a replacement string before the command's first
	 * blank or '=' (conc-run {} ::: 'echo a', not V={}) is the command
	 * or part of it: its values are not quoted. */
	for (const char *p = o->ncmd ? o->cmd[0] : ""; *p; p++) {
		int col, mod;

		if (strchr(" \t\n=", *p))
			break;
		if (cmd_rpl(p, &col, &mod)) {
			o->rawcmd = true;
			break;
		}
	}
	/* GNU parallel's perl expressions, {=...=} (the words are joined,
	 * so one may span words): an error, not silently text. */
	for (int k = 0, open = 0; k < o->ncmd; k++) {
		const char *w = o->cmd[k], *b = open ? w : strstr(w, "{=");

		if (b && strstr(b + (open ? 0 : 2), "=}"))
			opt_bad("{= perl expressions =} are not supported", w);
		open |= b != NULL;
	}
	if (o->tagstr && strstr(o->tagstr, "{=") &&
	    strstr(strstr(o->tagstr, "{=") + 2, "=}"))
		opt_bad("{= perl expressions =} are not supported", o->tagstr);
	sources(o, argv + i, argc - i);
	if (o->results)
		results_check(o);
	if (o->pipe && lines >= 0)	/* GNU's records of N lines */
		opt_bad("--pipe with -L or --max-lines", "not supported");
	if (o->pipe && o->noempty)	/* GNU's: blank lines out of each block */
		opt_bad("--pipe with -r", "not supported");
	if (o->pipe && o->nsrc)
		opt_bad("--pipe reads stdin", "no ::: or :::: with it");
	if (o->pipe && !o->ncmd)	/* as GNU parallel */
		opt_bad("--pipe needs a command", "to feed the chunks to");
}
