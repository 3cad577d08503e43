# c-code.awk — C source with comments, string and character literals
# blanked out, so that a grep sees only code. Loaded before another awk
# program for its code() function (the comment state is kept across lines
# in incom: reset it at each file's first line), or alone with -v show=1
# to print every line so. POSIX awk.

# The line s as code: comments and literals become blanks.
function code(s,    out, c, i, n) {
	out = ""; n = length(s)
	for (i = 1; i <= n; i++) {
		c = substr(s, i, 1)
		if (incom) {
			if (c == "*" && substr(s, i + 1, 1) == "/") { incom = 0; i++ }
			out = out " "
		} else if (instr != "") {
			if (c == "\\") { i++; out = out "  " }
			else { if (c == instr) instr = ""; out = out " " }
		} else if (c == "/" && substr(s, i + 1, 1) == "*") { incom = 1; i++; out = out "  " }
		else if (c == "/" && substr(s, i + 1, 1) == "/") break
		else if (c == "\"" || c == "\047") { instr = c; out = out " " }
		else out = out c
	}
	instr = ""                      # a literal never spans lines here
	return out
}

show && FNR == 1 { incom = 0 }
show { print code($0) }
