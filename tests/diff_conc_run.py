#!/usr/bin/env python3
"""diff_conc_run.py — differential testing of bin/conc-run against GNU
parallel (a developer's tool, not run by CI: GNU parallel takes about
0.2 s of CPU to start, and a full run is thousands of cases).

Cases come from a grammar of what conc-run(1) says it does (input sources,
replacement strings, -j forms, -k, --halt, --timeout, --retries, --joblog,
--tag, --tagstring, -n/-N/-X/-m/-L, --pipe, -q, --dry-run, --colsep, -u,
--line-buffer, --results) over odd inputs (empty, blank lines, spaces,
quotes, $, backslashes, unicode, long lines, CRLF, no last newline), drawn
at random from a fixed seed, plus one case per GNU parallel option that
conc-run does not claim (it must refuse it: exit 255 and a message).

Each case runs in a fresh directory, through /bin/sh as a script would run
it, under both tools; stdout (sorted by lines unless the output order is
fixed by -k or -j1), the exit status, the stderr the jobs wrote, the
joblog's columns but the times, and the --results tree are compared.
GNU parallel's results are cached (by the case's text) in $CACHE.

  tests/diff_conc_run.py [-n CASES] [-s SEED] [-j PAR] [--only SUBSTR]
                         [--show N] [--refusals]
Environment: CONC_RUN (default ./bin/conc-run), DIFF_CACHE
(default /tmp/conc-run-diff-cache).
"""
import argparse
import concurrent.futures as cf
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
CONC = os.path.abspath(os.environ.get("CONC_RUN",
                                      os.path.join(HERE, "..", "bin", "conc-run")))
CACHE = os.environ.get("DIFF_CACHE", "/tmp/conc-run-diff-cache")
TIMEOUT = 60

# ---------------------------------------------------------------- values
LONG = "L" * 3000
VALUES = [
    "a", "b", "c", "1", "2", "3", "", " ", "  lead", "trail  ", "a b",
    "c'd", 'e"f', "$HOME", "a\\b", "\\", "é", "日本語.txt", "x.tar.gz",
    "/a/b.c", "dir/", "dir/sub/f.e", ".hidden", "a.", "..", ".", "/",
    "-n", "--", "*", "a\tb", "x\r", "{}", "%", "~", "a''b", "'", "!x",
    "#c", "a;b", "$(echo hi)", "`x`", "a=b", "-", "0", LONG[:300],
]
NUMS = ["0", "1", "2", "3", "4", "5"]
PATHS = ["a/b.c", "/x/y/z.tar.gz", "noext", "d.d/f", ".rc", "a/b/", "f.e.g",
         "sp ace/f.x", "../up.t", "//two"]

# a few whole stdin texts
STDINS = [
    b"", b"\n", b"\n\n", b"a\nb\nc\n", b"a\nb\nc", b"a\n\nb\n", b" a \n b\n",
    b"a b\nc\td\n", b"x\r\ny\r\n", b"c'd\ne\"f\n$HOME\n", b"a\\b\n\\n\n",
    "é\n日本語\n".encode(), (LONG + "\n" + LONG[:100] + "\n").encode(),
    "".join("%d\n" % i for i in range(1, 60)).encode(),
    b"a,b,c\nd,e\nf\n", b"1 2 3\n4 5\n", b"a \nb\nc \n\nd\n",
    b"x.y/z.w\n/p/q.r\n",
]

REPL = ["{}", "{.}", "{/}", "{//}", "{/.}", "{#}", "{1}", "{2}", "{1.}",
        "{2/}", "{-1}", "{3}", "{1//}", "{2/.}", "x{}y", "{}{}", "{-2}"]


def q(s):
    return "'" + s.replace("'", "'\\''") + "'"


# ---------------------------------------------------------------- grammar
class Case:
    def __init__(self):
        self.opts = []        # options before the command
        self.cmd = []         # command words
        self.srcs = []        # words after the command (::: ...)
        self.stdin = b""
        self.files = {}       # name -> bytes
        self.order = False    # stdout order fixed (-k or -j1)
        self.joblog = False
        self.results = False
        self.env = {}

    def argv(self):
        return self.opts + self.cmd + self.srcs

    def key(self):
        return json.dumps({"a": self.argv(), "i": self.stdin.hex(),
                           "f": {k: v.hex() for k, v in sorted(self.files.items())},
                           "e": self.env, "o": self.order, "j": self.joblog,
                           "r": self.results}, sort_keys=True)

    def text(self):
        s = " ".join(q(a) for a in self.argv())
        if self.stdin:
            s += "  < " + repr(self.stdin[:200])
        for n, v in self.files.items():
            s += "  [%s=%r]" % (n, v[:100])
        for n, v in self.env.items():
            s = "%s=%s " % (n, v) + s
        return s


def pick_values(r, n):
    return [r.choice(VALUES) for _ in range(n)]


def gen_sources(r, c, nvals=None):
    """Inputs: ::: words, ::::/-a files, stdin lines, -0, -d."""
    kind = r.choice(["words", "words", "words2", "words+", "file", "argfile",
                     "stdin", "stdin", "stdin0", "stdind", "mixed", "empty"])
    nv = nvals or r.randint(1, 5)
    if kind == "words":
        c.srcs = [":::"] + pick_values(r, nv)
    elif kind == "words2":
        c.srcs = [":::"] + pick_values(r, r.randint(0, 3)) + \
                 [":::"] + pick_values(r, r.randint(1, 3))
    elif kind == "words+":
        c.srcs = [":::"] + pick_values(r, r.randint(1, 4)) + \
                 [":::+"] + pick_values(r, r.randint(1, 4))
    elif kind == "file":
        c.files["in1"] = r.choice(STDINS)
        c.srcs = ["::::", "in1"]
        if r.random() < 0.3:
            c.files["in2"] = r.choice(STDINS[:12])
            c.srcs += [r.choice(["in2", "::::+", "::::"])]
            if c.srcs[-1] != "in2":
                c.srcs.append("in2")
    elif kind == "argfile":
        c.files["in1"] = r.choice(STDINS)
        c.opts += ["-a", "in1"]
        if r.random() < 0.3:
            c.srcs = [":::"] + pick_values(r, 2)
    elif kind == "stdin":
        c.stdin = r.choice(STDINS)
    elif kind == "stdin0":
        c.opts.append(r.choice(["-0", "--null"]))
        c.stdin = r.choice([b"a\0b\0", b"a\nb\0c d\0\0", b"x\0", b"", b"\0",
                            b"e\"f\0'\0no-end"])
    elif kind == "stdind":
        d = r.choice([",", ":", "\\t", "x", "\\n", " "])
        c.opts += ["-d", d]
        real = d.replace("\\t", "\t").replace("\\n", "\n")
        c.stdin = real.join(r.choice(["a", "b", "", "c d", "é"])
                            for _ in range(r.randint(1, 5))).encode()
        if r.random() < 0.5:
            c.stdin += b"\n"
    elif kind == "mixed":
        c.files["in1"] = r.choice(STDINS[:12])
        c.stdin = r.choice(STDINS[:12])
        c.srcs = [":::"] + pick_values(r, 2) + ["::::", r.choice(["in1", "-"])]
    elif kind == "empty":
        c.srcs = [":::"] if r.random() < 0.5 else []
        if not c.srcs:
            c.stdin = b""
    return kind


def gen_cmd(r, c):
    base = r.choice([
        ["echo"], ["printf", "[%s]\\n"], ["sh", "-c", 'echo "$#:$*"', "sh"],
        ["echo", "X"], [], ["printf", "%s|"],
    ])
    words = list(base)
    nrepl = r.choice([0, 0, 1, 1, 2])
    for _ in range(nrepl):
        words.append(r.choice(REPL))
    if not words:
        words = [] if r.random() < 0.3 else ["echo", r.choice(REPL)]
    if r.random() < 0.25 and words and words[0] in ("echo", "printf"):
        # one quoted command word, as people write them
        words = [" ".join(words if words[0] == "echo" else
                          ["printf", "'[%s]\\n'"] + words[2:])]
    c.cmd = words


def gen_output_opts(r, c):
    if r.random() < 0.75:
        c.opts.append(r.choice(["-k", "--keep-order"]))
        c.order = True
    j = r.choice(["-j1", "-j1", "-j2", "-j3", "-j0", "-j+1", "-j-1", "-j50%",
                  "-j200%", None, "--jobs=2", "-P2", "-j 2"])
    if j:
        c.opts += j.split()
        if j == "-j1":
            c.order = True
    x = r.random()
    if x < 0.15:
        c.opts.append("--tag")
    elif x < 0.25:
        c.opts += ["--tagstring", r.choice(["{}", "T{#}", "{1}-{2}", "[{}]",
                                             "a\\tb", "{/.}:", "x"])]
    if r.random() < 0.06:
        c.opts.append(r.choice(["-v", "--verbose"]))
    x = r.random()
    if x < 0.1:
        c.opts.append("--line-buffer")
    elif x < 0.15:
        c.opts.append("-u")
        c.order = c.order and "-j1" in c.opts


def gen_args_opts(r, c):
    x = r.random()
    if x < 0.1:
        c.opts += ["-n", str(r.randint(0, 3))]
    elif x < 0.17:
        c.opts += ["-N", str(r.randint(0, 3))]
    elif x < 0.22:
        c.opts.append(r.choice(["-X", "-m", "--xargs"]))
    elif x < 0.25:
        c.opts += ["-L", str(r.randint(1, 2))]
    elif x < 0.27:
        c.opts.append(r.choice(["-l", "--max-lines=2"]))
    if r.random() < 0.12:
        c.opts += ["--colsep", r.choice([",", "\\t", " +", ":", "[,;]", " ",
                                          "b"])]
    if r.random() < 0.12:
        c.opts.append("-q")
    if r.random() < 0.08:
        c.opts.append(r.choice(["-r", "--no-run-if-empty"]))
    if r.random() < 0.3:
        c.opts.append("--dry-run")


def gen_general(r):
    c = Case()
    gen_output_opts(r, c)
    gen_args_opts(r, c)
    gen_sources(r, c)
    gen_cmd(r, c)
    if r.random() < 0.1:
        c.opts += ["--joblog", "jl"]
        c.joblog = True
    r.shuffle(c.opts) if False else None
    return c


def gen_exit(r):
    """Exit statuses, --halt, --retries, --joblog."""
    c = Case()
    c.opts += ["-k", "-j1"]
    c.order = True
    nums = [r.choice(NUMS) for _ in range(r.randint(1, 6))]
    c.srcs = [":::"] + nums
    body = r.choice([
        "echo {}; exit {}",
        "echo {}; test {} -lt 3",
        "echo o{}; echo e{} >&2; exit $(({} % 2))",
        "n=$(cat c.{#} 2>/dev/null || echo 0); echo $((n+1)) > c.{#}; echo try$n-{}; test $n -ge {}",
        "kill -TERM $$",
        "echo {}; kill -{} $$ 2>/dev/null; exit 1",
        "exit 200",
    ])
    c.cmd = [body]
    x = r.random()
    if x < 0.5:
        c.opts += ["--halt", r.choice([
            "now,fail=1", "soon,fail=1", "soon,fail=2", "now,success=1",
            "soon,success=2", "now,done=2", "soon,done=1", "fail=1",
            "success=1", "now,fail=50%", "soon,fail=34%", "1", "2", "0",
            "never", "now,fail=0", "soon,success=100%", "done=3"])]
    if r.random() < 0.4:
        c.opts += ["--retries", str(r.randint(0, 3))]
        if c.opts[-1] == "0" and "c.{#}" not in body:
            c.opts[-1] = "2"
    if r.random() < 0.5:
        c.opts += ["--joblog", "jl"]
        c.joblog = True
    if r.random() < 0.2:
        c.opts.append("--tag")
    if r.random() < 0.3:
        c.opts[c.opts.index("-j1")] = "-j2"
        c.order = True    # -k
    return c


def gen_pipe(r):
    c = Case()
    c.opts.append("--pipe")
    if r.random() < 0.8:
        c.opts.append("-k")
        c.order = True
    c.opts.append(r.choice(["-j1", "-j2", "-j3"]))
    x = r.random()
    if x < 0.6:
        c.opts += ["--block", r.choice(["1", "3", "10", "20", "100", "1k",
                                         "1K", "64", "2"])]
    elif x < 0.8:
        c.opts += ["-n", str(r.randint(1, 4))]
    if r.random() < 0.3:
        c.opts += ["--recend", r.choice([";", "XY", "", "\\0", ",", "\\n\\n"])]
    if r.random() < 0.15:
        c.opts.append("--tag")
    c.stdin = r.choice(STDINS + [b"a;bb;ccc;dddd;e", b"aXYbXYXYccXYd",
                                 b"1,2,3,4,5,6,7,8,9,10", b"a\0b\0c\0",
                                 b"p\n\nq\n\nr\n\n\ns"])
    c.cmd = [r.choice(["wc -l", "cat; echo ---", "wc -c", "md5sum",
                       "echo {#}; cat", "cat", "sed s/^/x/", "echo [{}]"])]
    return c


def gen_results(r):
    c = Case()
    c.results = True
    c.opts += ["--results", "out", "-j1"]
    c.order = True
    gen_sources(r, c)
    c.cmd = [r.choice(["echo", "echo {} >&2; echo o", "printf %s"])]
    if r.random() < 0.3:
        c.opts.append("--dry-run")
    return c


def gen_timeout(r):
    c = Case()
    c.opts += ["-k", "--timeout", r.choice(["1", "1.5", "0.5s", "1s", "200%",
                                            "1000%"])]
    c.order = True
    c.srcs = [":::"] + r.sample(["0", "0", "20", "0.1", "20"], 3)
    c.cmd = [r.choice(["sleep {}; echo {}", "echo s{}; sleep {}; echo e{}"])]
    if r.random() < 0.5:
        c.opts += ["--joblog", "jl"]
        c.joblog = True
    if r.random() < 0.4:
        c.opts += ["--halt", r.choice(["now,fail=1", "soon,fail=1"])]
        c.opts.insert(0, "-j1")
    return c


def gen_jobs(r):
    """-j forms beside inputs that need slots ({%} with -j1 only)."""
    c = Case()
    j = r.choice(["-j1", "-j 1", "-j0", "-j+0", "-j-1", "-j100%",
                  "-j50%", "-j1%", "-j0%", "-j-100", "-j 3", "-jx",
                  "-j1.5", "-j", "-j 1/2", "-j +1", "-j 0", "--jobs -1",
                  "-j 33%", "-P 1", "--jobs= 2", "-j ''"])
    c.opts += j.split() + ["-k"]
    c.order = True
    c.srcs = [":::"] + NUMS[:r.randint(1, 5)]
    c.cmd = ["echo"] + (["{%}"] if j in ("-j1", "-j 1", "-P 1") else ["{}"])
    return c


def gen_odd(r):
    """Odd command lines: stdin to jobs, no command, values as commands."""
    c = Case()
    c.opts += ["-k", "-j1"]
    c.order = True
    kind = r.randint(0, 7)
    if kind == 0:     # a job's stdin, with ::: sources
        c.srcs = [":::", "a", "b"]
        c.cmd = [r.choice(["cat", "wc -l", "head -c 3"])]
        c.stdin = b"IN\n"
    elif kind == 1:   # no command
        c.srcs = [":::"] + [r.choice(["echo a", "echo 'b c'", "false",
                                      "exit 3", "echo $((1+2))", "",
                                      "printf x"]) for _ in range(3)]
    elif kind == 2:   # the command starts with a replacement string
        c.cmd = [r.choice(["{}", "{} x", "{1} {2}", "my_{}", "V={} env"])]
        c.srcs = [":::", "echo", "printf %s\\n"] + \
                 ([":::", "1 2", "a"] if "{2}" in c.cmd[0] else [])
    elif kind == 3:   # {= =} and unknown braces
        c.cmd = ["echo", r.choice(["{=uc=}", "{x}", "{1x}", "{", "}", "{}}",
                                   "{{}}", "{0}", "{-0}", "{ }", "{%x}",
                                   "{##}", "{+/}", "{...}", "{//.}"])]
        c.srcs = [":::", "a/b.c"]
    elif kind == 4:   # a command with its own quoting and pipes
        c.cmd = [r.choice(["echo {} | tr a-z A-Z", "echo '{}'",
                           'echo "{}"', "echo {} > f; cat f",
                           "echo \\{}", "echo $(echo {})",
                           "for i in 1 2; do echo {}$i; done"])]
        c.srcs = [":::"] + pick_values(r, 3)
    elif kind == 5:   # options after ::: or odd placement
        c.srcs = [":::", "a", "b"]
        c.cmd = ["echo", r.choice(["-k", "--tag", "-j2", ":::", "--"])]
        if c.cmd[1] == ":::":
            c.cmd = ["echo"]
            c.srcs = [":::", ":::", "a"]
        elif c.cmd[1] == "--":
            c.opts.append("--")
            c.cmd = ["echo", "x"]
    elif kind == 6:   # environment seen by the job
        c.cmd = [r.choice(["echo $PARALLEL_SEQ", "echo ${PARALLEL_JOBSLOT}",
                           "test -n \"$PARALLEL_PID\" && echo pid"])]
        c.srcs = [":::", "a", "b", "c"]
    else:             # many args
        n = r.choice([100, 1000, 5000])
        c.srcs = [":::"] + [str(i) for i in range(n)]
        c.opts += r.choice([[], ["-X"], ["-m"], ["-n", "7"], ["--xargs"]] +
                           ([["-N", "3"]] if n < 5000 else []))
        c.cmd = [r.choice(["echo", "sh -c 'echo $#' sh", "echo {#}:"])]
    return c


GENS = [(gen_general, 60), (gen_exit, 12), (gen_pipe, 10), (gen_results, 4),
        (gen_jobs, 4), (gen_odd, 10), (gen_timeout, 0)]

# GNU parallel's options that conc-run does not claim: each must be
# refused (exit 255, a line on stderr), never silently ignored.
REFUSE = [
    ["--header", ":"], ["--trim", "lr"], ["--plus"],
    ["-I", "XX"], ["-i"], ["-E", "x"],
    ["--eof", "x"], ["--shuf"], ["--tmpdir", "/tmp"],
    ["--files"], ["--group"], ["-g"], ["--ctag"], ["--ctagstring", "x"],
    ["--rpl", "{x} s/a/b/"], ["--env", "X"], ["--workdir", "."],
    ["--fifo"], ["--cat"], ["--recstart", "x"],
    ["--tty"], ["--compress"], ["--linebuffer"],
    ["--keep-order", "--group-by", "1"], ["--round-robin"], ["--shebang"],
    ["--semaphore"], ["--sem"], ["--fg"], ["--bg"], ["--memfree", "1G"],
    ["--load", "100%"], ["--noswap"], ["--limit", "x"], ["--tmux"],
    ["--quote-arg"], ["--arg-sep", "ZZ"], ["--arg-file-sep", "ZZ"],
    ["--no-notice"], ["--will-cite"], ["--joblog", "jl", "--resume-failed",
    "--retry-failed"], ["--sqlmaster", "x"], ["--csv"], ["--null", "-E", "x"],
    ["--output-as-files"], ["--outputasfiles"], ["--return", "x", "--basefile", "y"],
    ["-M"], ["--ungroup", "--linebuffer"], ["--ssh-delay", "1"], ["--block", "1",
    "--pipepart"], ["--blocksize", "1"], ["--rrs"], ["--regexp"],
    ["--results", "x.csv"], ["--dr"], ["--halt", "now,fail=1,x"],
    ["--line-buffered"], ["--keeporder"], ["--tag-string", "x"], ["-w"],
    ["--delay", "auto"], ["--env", "_"], ["--termseq", "INT,200"],
    ["--xapply"], ["--colsep", ",", "--header", "."], ["--filter-hosts"],
    ["--nonall"], ["--onall"], ["--show-limits"], ["--number-of-cpus"],
    ["--minversion", "1"], ["--gnu"], ["--tollef"], ["--profile", "x"],
]


def gen_refusal(opts):
    c = Case()
    c.opts = list(opts) + ["-k"]
    c.cmd = ["echo"]
    c.srcs = [":::", "a", "b"]
    c.order = True
    c.refusal = True
    return c


# ---------------------------------------------------------------- running
def run_one(prog, c):
    d = tempfile.mkdtemp(prefix="crdiff.")
    try:
        for n, v in c.files.items():
            with open(os.path.join(d, n), "wb") as f:
                f.write(v)
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("PARALLEL")}
        env.update({"LC_ALL": "C.UTF-8", "HOME": os.environ.get("HOME", "/root")})
        env.update(c.env)
        if prog == "parallel":
            argv = ["parallel", "--will-cite"] + c.argv()
        else:
            argv = [CONC] + c.argv()
        # through sh, as a script runs it (GNU parallel takes its parent
        # shell for the jobs); "; exit" so that sh does not exec it.
        sh = ["sh", "-c", '"$@"; exit $?', "sh"] + argv
        try:
            p = subprocess.run(sh, input=c.stdin, capture_output=True,
                               cwd=d, env=env, timeout=TIMEOUT)
            out, err, rc = p.stdout, p.stderr, p.returncode
        except subprocess.TimeoutExpired as e:
            out, err, rc = e.stdout or b"", e.stderr or b"", "timeout"
        res = {"out": out.decode("utf-8", "backslashreplace"),
               "err": err.decode("utf-8", "backslashreplace"), "rc": rc}
        if c.joblog:
            try:
                with open(os.path.join(d, "jl"), "rb") as f:
                    res["jl"] = f.read().decode("utf-8", "backslashreplace")
            except OSError:
                res["jl"] = None
        if c.results:
            tree = {}
            top = os.path.join(d, "out")
            for root, dirs, files in os.walk(top):
                rel = os.path.relpath(root, top)
                for fn in files:
                    with open(os.path.join(root, fn), "rb") as f:
                        tree[os.path.join(rel, fn)] = f.read().decode(
                            "utf-8", "backslashreplace")
                for dn in dirs:
                    tree.setdefault(os.path.join(rel, dn) + "/", "")
            res["tree"] = tree
        return res
    finally:
        shutil.rmtree(d, ignore_errors=True)


def run_parallel_cached(c):
    h = hashlib.sha256(c.key().encode()).hexdigest()
    path = os.path.join(CACHE, h[:2], h)
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        pass
    res = run_one("parallel", c)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".tmp", "w") as f:
        json.dump(res, f)
    os.rename(path + ".tmp", path)
    return res


# ---------------------------------------------------------------- comparing
def job_err(err):
    """The stderr lines the jobs wrote: the tools' own messages out."""
    keep = []
    skip = False
    for l in err.splitlines():
        # GNU parallel's --halt message puts the command on a line of its own
        if skip:
            skip = False
            continue
        if l.startswith("parallel: This job "):
            skip = True
        if l.startswith(("parallel:", "conc-run:")) or not l.strip():
            continue
        if l.startswith(("GNU parallel", "Academic tradition", "If you",
                         "  ", "To silence", "Come on", "Please")):
            continue
        # GNU parallel runs the sh it was started from, by its path
        keep.append(l.replace("/usr/bin/sh: ", "/bin/sh: "))
    return keep


def jl_rows(jl):
    if jl is None:
        return None
    rows = []
    for l in jl.splitlines()[1:]:
        f = l.split("\t")
        if len(f) >= 9:
            # Seq Host Starttime JobRuntime Send Receive Exitval Signal Command
            rows.append([f[0], f[1], f[4], f[5], f[6], f[7], "\t".join(f[8:])])
        else:
            rows.append(["?", l])
    return sorted(rows, key=lambda r: int(r[0]) if r[0].isdigit() else 0)


def compare(c, exp, got):
    d = []
    if exp["rc"] != got["rc"]:
        d.append(("rc", exp["rc"], got["rc"]))
    eo, go = exp["out"], got["out"]
    if not c.order:
        # lines in any order; a job's output without newlines in any
        # order too (compared by its characters)
        if sorted(eo.splitlines()) == sorted(go.splitlines()) or \
                sorted(eo) == sorted(go):
            eo = go
    if eo != go:
        d.append(("out", exp["out"], got["out"]))
    if job_err(exp["err"]) != job_err(got["err"]) and \
            (c.order or sorted(job_err(exp["err"])) != sorted(job_err(got["err"]))):
        d.append(("joberr", exp["err"], got["err"]))
    # a message from the tool on one side only
    ew = any(l.startswith("parallel:") for l in exp["err"].splitlines())
    gw = any(l.startswith("conc-run:") for l in got["err"].splitlines())
    if ew != gw:
        d.append(("msg", exp["err"], got["err"]))
    if c.joblog and jl_rows(exp.get("jl")) != jl_rows(got.get("jl")):
        d.append(("joblog", exp.get("jl"), got.get("jl")))
    if c.results and exp.get("tree") != got.get("tree"):
        d.append(("results", json.dumps(exp.get("tree"), sort_keys=True, indent=0),
                  json.dumps(got.get("tree"), sort_keys=True, indent=0)))
    return d


def features(c):
    f = set()
    for o in c.opts:
        if o.startswith("-j") or o.startswith("-P") or o.startswith("--jobs"):
            continue
        if o.startswith("-"):
            f.add(o.split("=")[0])
    for s in c.srcs:
        if s.startswith(":::"):
            f.add(s)
    if not c.srcs and "-a" not in c.opts:
        f.add("stdin")
    return f


def main():
    # started in the background of a script, SIGINT and SIGQUIT would be
    # ignored, for both tools and all their jobs: as from a terminal
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGQUIT, signal.SIG_DFL)
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=2000)
    ap.add_argument("-s", type=int, default=11)
    ap.add_argument("-j", type=int, default=2)
    ap.add_argument("--only", default=None)
    ap.add_argument("--show", type=int, default=3)
    ap.add_argument("--refusals", action="store_true")
    ap.add_argument("--timeouts", type=int, default=0)
    ap.add_argument("--out", default="/tmp/conc-run-diff.json")
    a = ap.parse_args()

    r = random.Random(a.s)
    cases = []
    if a.refusals:
        cases = [gen_refusal(o) for o in REFUSE]
    else:
        gens = [g for g, w in GENS for _ in range(w)]
        seen = set()
        while len(cases) < a.n:
            c = r.choice(gens)(r)
            if c.key() in seen:
                continue
            seen.add(c.key())
            cases.append(c)
        for _ in range(a.timeouts):
            cases.append(gen_timeout(r))
    if a.only:
        cases = [c for c in cases if a.only in c.text()]

    def one(c):
        exp = run_parallel_cached(c)
        got = run_one("conc", c)
        return c, exp, got

    diffs = []
    done = 0
    live = open(a.out + ".live", "w")     # each difference as it comes
    with cf.ThreadPoolExecutor(a.j) as ex:
        for c, exp, got in ex.map(one, cases):
            done += 1
            if getattr(c, "refusal", False):
                ok = got["rc"] == 255 and "conc-run:" in got["err"] and not got["out"]
                if not ok:
                    diffs.append({"case": c.text(), "kinds": ["refusal"],
                                  "par": exp, "conc": got, "feat": sorted(features(c))})
                continue
            d = compare(c, exp, got)
            if d:
                diffs.append({"case": c.text(), "kinds": [k for k, _, _ in d],
                              "par": exp, "conc": got,
                              "feat": sorted(features(c))})
                live.write(json.dumps(diffs[-1]) + "\n")
                live.flush()
            if done % 200 == 0:
                print("%d/%d cases, %d differ" % (done, len(cases), len(diffs)),
                      file=sys.stderr)
    with open(a.out, "w") as f:
        json.dump(diffs, f, indent=1)
    print("%d cases, %d differ (details in %s)" % (len(cases), len(diffs), a.out))
    bykind = {}
    for x in diffs:
        k = ",".join(x["kinds"])
        bykind.setdefault(k, []).append(x)
    for k, xs in sorted(bykind.items(), key=lambda kv: -len(kv[1])):
        print("== %s: %d" % (k, len(xs)))
        for x in xs[:a.show]:
            print("   " + x["case"][:300])
            for side in ("par", "conc"):
                s = x[side]
                print("     %-8s rc=%s out=%r err=%r" % (
                    side, s["rc"], s["out"][:200], s["err"][:200]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
