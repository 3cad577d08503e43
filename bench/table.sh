#!/bin/sh
# table.sh — the README's benchmark table from `make bench` output:
#   make bench | tee bench.out; sh bench/table.sh bench.out
# (or `make bench-table`). One row per ratio line: the figure, conc's
# median, the anchor's median, the ratio's median with its min–max over
# the runs, and which of the three were bimodal. Lines without a ratio
# (context figures, notes, skipped anchors) are left out.
#
# A ratio line is fields apart by two spaces or more:
#   what  conc 4.1 ns [3.9 4.1 4.6]  floor 3.4 ns [...] bimodal  ratio 1.21x [...]  (lower is better)
# and a field is: name(s) value unit(s) [min median max] [bimodal].
exec awk -F '  +' '
# Splits field f into the globals name, val, unit, lo, hi, bi.
function parse(f,    t, m, i, b, k) {
	m = split(f, t, " ")
	b = 0
	for (i = 1; i <= m; i++)
		if (substr(t[i], 1, 1) == "[") {
			b = i
			break
		}
	if (b < 3 || b + 2 > m)
		return 0
	for (k = b - 1; k > 1 && t[k] !~ /^[0-9.]+x?$/; k--)
		;
	if (t[k] !~ /^[0-9.]+x?$/)
		return 0
	name = t[1]
	for (i = 2; i < k; i++)
		name = name " " t[i]
	val = t[k]
	unit = ""
	for (i = k + 1; i < b; i++)
		unit = unit (unit == "" ? "" : " ") t[i]
	lo = substr(t[b], 2)
	hi = t[b + 2]
	sub(/\]$/, "", hi)
	bi = (t[m] == "bimodal")
	return 1
}
function cell(v, u) {
	return v (u == "" ? "" : " " u)
}
BEGIN {
	print "| What | conc | anchor | ratio (min–max) | note |"
	print "|---|---|---|---|---|"
}
$1 != "" && $2 ~ /^conc / && $4 ~ /^ratio / {
	what = $1
	if (!parse($2)) next
	c = cell(val, unit); cb = bi; cu = unit
	if (!parse($3)) next
	a = name " " cell(val, unit); ab = bi
	if (!parse($4)) next
	r = val " (" lo "–" hi "x)"
	if ($5 ~ /lower/) r = r (cu ~ /B$/ ? " memory" : " time")
	else if ($5 ~ /higher/) r = r " throughput"
	note = ""
	if (cb) note = "conc"
	if (ab) note = note (note == "" ? "" : ", ") "anchor"
	if (bi) note = note (note == "" ? "" : ", ") "ratio"
	if (note != "") note = "bimodal: " note
	gsub(/\|/, "\\|", what); gsub(/\|/, "\\|", a)
	printf "| %s | %s | %s | %s | %s |\n", what, c, a, r, note
}
' "$@"
