# man-example.awk — print the C program of a man page's EXAMPLES section.
#
# Reads one man(7) or mdoc(7) page. Takes the literal blocks (.EX/.EE,
# .nf/.fi, .Bd/.Ed) of the EXAMPLES section that follow its "Program source"
# subsection; a page without that subsection gives every block that is not a
# shell session (a first line starting "$ "). Undoes the escapes a page may
# use in code: \e \\ \- \(aq \(dq \[..] \fB \& \c and the like.
# POSIX awk: runs with mawk (Debian's default) as with gawk.

function unescape(s,    out, c, n, name, end) {
	out = ""
	while ((n = index(s, "\\")) > 0) {
		out = out substr(s, 1, n - 1)
		c = substr(s, n + 1, 1)
		s = substr(s, n + 2)
		if (c == "e" || c == "\\") out = out "\\"
		else if (c == "-" || c == "'" || c == "`" || c == "." || c == "!") out = out c
		else if (c == " " || c == "0" || c == "~") out = out " "
		else if (c == "&" || c == "%" || c == "|" || c == "^" || c == ")" || c == ":") ;
		else if (c == "\"") s = ""          # a comment to the end of the line
		else if (c == "c" && s == "") join = 1
		else if (c == "f") {                # font change: \fB, \f(CW, \f[CR]
			c = substr(s, 1, 1)
			if (c == "(") s = substr(s, 4)
			else if (c == "[") { end = index(s, "]"); s = end ? substr(s, end + 1) : "" }
			else s = substr(s, 2)
		} else if (c == "(" || c == "[" || c == "*") {
			if (c == "*") {             # string: \*x, \*(xx, \*[name]
				c = substr(s, 1, 1); s = substr(s, 2)
				if (c != "(" && c != "[") { out = out strval(c); continue }
			}
			if (c == "(") { name = substr(s, 1, 2); s = substr(s, 3) }
			else { end = index(s, "]"); name = end ? substr(s, 1, end - 1) : s; s = end ? substr(s, end + 1) : "" }
			out = out glyph(name)
		} else out = out c
	}
	return out s
}

function glyph(name) {
	if (name in G) return G[name]
	bad = bad " \\(" name
	return ""
}

function strval(name) {
	bad = bad " \\*" name
	return ""
}

function emit(line) {
	line = unescape(line)
	if (pend != "") { line = pend line; pend = "" }
	if (join) { pend = line; join = 0; return }
	blk[nblk] = blk[nblk] line "\n"
	if (first[nblk] == "") first[nblk] = line
}

BEGIN {
	G["aq"] = "'"; G["dq"] = "\""; G["rs"] = "\\"; G["ti"] = "~"; G["ha"] = "^"
	G["lq"] = "\""; G["rq"] = "\""; G["oq"] = "'"; G["cq"] = "'"; G["en"] = "-"
	G["em"] = "-"; G["mi"] = "-"; G["hy"] = "-"; G["ga"] = "`"; G["lB"] = "["
	G["rB"] = "]"; G["lC"] = "{"; G["rC"] = "}"; G["la"] = "<"; G["ra"] = ">"
	G["ba"] = "|"; G["sl"] = "/"; G["bu"] = "*"; G["at"] = "@"; G["sh"] = "#"
	G["Do"] = "$"; G["pl"] = "+"; G["eq"] = "="; G["ul"] = "_"; G["Aq"] = "\047"
	insec = 0; inblk = 0; src = 0; nblk = 0; bad = ""
}

# Section headings, man(7) and mdoc(7); quotes optional.
/^\.S[Hh][ \t]/ {
	h = $0; sub(/^\.S[Hh][ \t]+/, "", h); gsub(/"/, "", h)
	insec = (h == "EXAMPLES" || h == "EXAMPLE")
	next
}
!insec { next }
/^\.(SS|Ss)[ \t]/ {
	h = $0; sub(/^\.(SS|Ss)[ \t]+/, "", h); gsub(/"/, "", h)
	if (tolower(h) ~ /^program source/) { src = 1; nsrc = nblk }
	next
}
!inblk && /^\.(EX|nf|Bd)([ \t]|$)/ { inblk = 1; nblk++; blk[nblk] = ""; first[nblk] = ""; next }
inblk && /^\.(EE|fi|Ed)([ \t]|$)/ { inblk = 0; next }
!inblk { next }
/^\.\\"/ || /^'\\"/ || /^\.[ \t]*$/ { next }
/^[.'](B|I|R|BI|IB|BR|RB|IR|RI|Sy|Em|Li)[ \t]/ {
	# A font macro inside a block: its words are the text.
	line = $0; sub(/^[.'][A-Za-z]+[ \t]+/, "", line); gsub(/"/, "", line)
	emit(line); next
}
/^[.']/ { next }                            # other requests: .in, .br, .sp
{ emit($0) }

END {
	if (bad != "") printf "man-example: unknown escapes:%s\n", bad > "/dev/stderr"
	for (i = 1; i <= nblk; i++) {
		if (src ? i <= nsrc : first[i] ~ /^\$ /) continue
		printf "%s", blk[i]
	}
	if (bad != "") exit 2
}
