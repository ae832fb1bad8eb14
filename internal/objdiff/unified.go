package objdiff

import (
	"fmt"
	"strings"
)

// Unified returns the unified diff (diff -u format) that turns from into to, with context lines of context around
// each change, under the headers "--- fromLabel" and "+++ toLabel". It returns "" when the texts are equal.
//
// Lines are compared byte for byte, their line ends included: a last line without a newline differs from the same
// line with one, and is marked "\ No newline at end of file" as diff(1) does. A negative context counts as 0.
// The edit script is a shortest one (Myers' algorithm in linear space), so the hunks show no more change than
// there is, except between large texts with little in common, where the search is bounded (see maxCost).
func Unified(from, to, fromLabel, toLabel string, context int) string {
	if from == to {
		return ""
	}
	context = max(context, 0)
	a, b := splitLines(from), splitLines(to)
	ops := editScript(a, b)

	var out strings.Builder
	fmt.Fprintf(&out, "--- %s\n+++ %s\n", fromLabel, toLabel)
	for _, h := range hunks(ops, context) {
		writeHunk(&out, a, b, ops[h[0]:h[1]])
	}
	return out.String()
}

// splitLines splits s after each "\n"; the last line lacks one when s does not end with one.
func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	lines := strings.SplitAfter(s, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

// opKind is what an edit does with one line.
type opKind byte

const (
	opEqual  opKind = ' '
	opDelete opKind = '-'
	opInsert opKind = '+'
)

// op is one line of the edit script: line i of a and line j of b for an equal line, line i of a for a deletion,
// line j of b for an insertion. For a deletion j is where b stands, and for an insertion i is where a stands, so
// that every op knows its position in both texts.
type op struct {
	kind opKind
	i, j int
}

// editScript returns a shortest edit script from a to b, deletions before insertions within each change.
func editScript(a, b []string) []op {
	// Lines are compared as small integers: equal lines get equal numbers.
	ids := map[string]int{}
	number := func(lines []string) []int {
		out := make([]int, len(lines))
		for i, l := range lines {
			id, ok := ids[l]
			if !ok {
				id = len(ids)
				ids[l] = id
			}
			out[i] = id
		}
		return out
	}
	d := &differ{a: number(a), b: number(b)}
	d.delA = make([]bool, len(a))
	d.insB = make([]bool, len(b))
	d.compare(0, len(a), 0, len(b))

	// Lines not marked are matched in order; the marks become an edit script.
	ops := make([]op, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case i < len(a) && d.delA[i]:
			ops = append(ops, op{opDelete, i, j})
			i++
		case j < len(b) && d.insB[j]:
			ops = append(ops, op{opInsert, i, j})
			j++
		default:
			ops = append(ops, op{opEqual, i, j})
			i++
			j++
		}
	}
	return ops
}

// differ marks the lines of a to delete and the lines of b to insert, as GNU diff's compareseq does: by dividing
// the problem at the middle snake of a shortest path (Myers 1986, section 4b), in space linear in the input.
type differ struct {
	a, b       []int
	delA, insB []bool
}

func (d *differ) compare(aLo, aHi, bLo, bHi int) {
	for aLo < aHi && bLo < bHi && d.a[aLo] == d.b[bLo] {
		aLo++
		bLo++
	}
	for aLo < aHi && bLo < bHi && d.a[aHi-1] == d.b[bHi-1] {
		aHi--
		bHi--
	}
	switch {
	case aLo == aHi:
		for j := bLo; j < bHi; j++ {
			d.insB[j] = true
		}
		return
	case bLo == bHi:
		for i := aLo; i < aHi; i++ {
			d.delA[i] = true
		}
		return
	}
	x, y := d.split(aLo, aHi, bLo, bHi)
	if (x == aLo && y == bLo) || (x == aHi && y == bHi) {
		// Cannot happen for a correct middle snake (the ends differ, so the path needs at least two edits), but
		// recursing on the same problem would never end: replace the whole range instead, which is still a
		// correct, if longer, edit script.
		for i := aLo; i < aHi; i++ {
			d.delA[i] = true
		}
		for j := bLo; j < bHi; j++ {
			d.insB[j] = true
		}
		return
	}
	d.compare(aLo, x, bLo, y)
	d.compare(x, aHi, y, bHi)
}

// maxCost bounds the edit distance split searches for. Past it, two texts have little in common (tens of thousands
// of unrelated lines), and a shortest script would cost time quadratic in their size: split settles for a point
// of a good path instead, as GNU diff does when a comparison gets "too expensive". The script stays correct.
const maxCost = 512

// split returns a point of a shortest edit path from (aLo, bLo) to (aHi, bHi) where the problem divides in two:
// the end of the middle snake, found by running the search forward from the start and backward from the end until
// the two meet. Diagonals whose paths leave the grid are dropped from the search, as diff-match-patch's bisect
// does, so that the point is always inside the ranges. Past maxCost it returns the forward path that got furthest.
func (d *differ) split(aLo, aHi, bLo, bHi int) (int, int) {
	n, m := aHi-aLo, bHi-bLo
	maxD := (n + m + 1) / 2
	delta := n - m
	odd := delta%2 != 0
	off := maxD + 1
	size := 2*maxD + 3
	// vf[off+k] is the furthest x reached on diagonal k = x-y going forward; vb[off+k] is the furthest distance from
	// the end reached on diagonal k = (n-x)-(m-y) going backward; -1 where no path has been.
	vf := make([]int, size)
	vb := make([]int, size)
	for i := range vf {
		vf[i], vb[i] = -1, -1
	}
	vf[off+1], vb[off+1] = 0, 0
	inGrid := func(x, y int) bool { return x >= 0 && x <= n && y >= 0 && y <= m }
	var fStart, fEnd, bStart, bEnd int // diagonals trimmed off each side, forward and backward
	bestX, bestY := 0, 0               // the forward point furthest from the start, for when the search is cut short
	for D := 0; D <= maxD; D++ {
		if D > maxCost {
			if bestX+bestY > 0 && bestX+bestY < n+m {
				return aLo + bestX, bLo + bestY
			}
			return aLo + n/2, bLo + m/2
		}
		for k := -D + fStart; k <= D-fEnd; k += 2 {
			var x int
			if k == -D || (k != D && vf[off+k-1] < vf[off+k+1]) {
				x = vf[off+k+1] // down: an insertion
			} else {
				x = vf[off+k-1] + 1 // right: a deletion
			}
			y := x - k
			for x < n && y < m && d.a[aLo+x] == d.b[bLo+y] {
				x++
				y++
			}
			vf[off+k] = x
			if inGrid(x, y) && x+y > bestX+bestY {
				bestX, bestY = x, y
			}
			switch {
			case x > n:
				fEnd += 2
			case y > m:
				fStart += 2
			case odd:
				kb := delta - k
				if kb >= -maxD-1 && kb <= maxD+1 && vb[off+kb] >= 0 && x+vb[off+kb] >= n && inGrid(x, y) {
					return aLo + x, bLo + y
				}
			}
		}
		for k := -D + bStart; k <= D-bEnd; k += 2 {
			var x int
			if k == -D || (k != D && vb[off+k-1] < vb[off+k+1]) {
				x = vb[off+k+1]
			} else {
				x = vb[off+k-1] + 1
			}
			y := x - k
			for x < n && y < m && d.a[aHi-1-x] == d.b[bHi-1-y] {
				x++
				y++
			}
			vb[off+k] = x
			switch {
			case x > n:
				bEnd += 2
			case y > m:
				bStart += 2
			case !odd:
				kf := delta - k
				if kf >= -maxD-1 && kf <= maxD+1 && vf[off+kf] >= 0 {
					fx := vf[off+kf]
					fy := fx - kf
					if fx+x >= n && inGrid(fx, fy) {
						return aLo + fx, bLo + fy
					}
				}
			}
		}
	}
	// Not reached when the searches work as they should; the caller treats a corner as "replace everything".
	return aLo, bLo
}

// hunks groups the changes of ops with context lines around them; changes closer than 2*context lines share a
// hunk. Each hunk is a half-open range of ops.
func hunks(ops []op, context int) [][2]int {
	var out [][2]int
	for k := 0; k < len(ops); {
		if ops[k].kind == opEqual {
			k++
			continue
		}
		start := max(k-context, 0)
		end := k
		// Extend over changes and the equal runs between them that are short enough to keep in one hunk.
		for end < len(ops) {
			if ops[end].kind != opEqual {
				end++
				continue
			}
			run := end
			for run < len(ops) && ops[run].kind == opEqual {
				run++
			}
			if run == len(ops) || run-end > 2*context {
				end = min(end+context, len(ops))
				break
			}
			end = run
		}
		if len(out) > 0 && start < out[len(out)-1][1] {
			start = out[len(out)-1][1]
		}
		out = append(out, [2]int{start, end})
		k = end
	}
	return out
}

// writeHunk writes one hunk: its header, then its lines.
func writeHunk(out *strings.Builder, a, b []string, ops []op) {
	aStart, bStart := ops[0].i, ops[0].j
	aCount, bCount := 0, 0
	for _, o := range ops {
		if o.kind != opInsert {
			aCount++
		}
		if o.kind != opDelete {
			bCount++
		}
	}
	fmt.Fprintf(out, "@@ -%s +%s @@\n", hunkRange(aStart, aCount), hunkRange(bStart, bCount))
	for _, o := range ops {
		line := ""
		switch o.kind {
		case opEqual, opDelete:
			line = a[o.i]
		case opInsert:
			line = b[o.j]
		}
		out.WriteByte(byte(o.kind))
		out.WriteString(line)
		if !strings.HasSuffix(line, "\n") {
			out.WriteString("\n\\ No newline at end of file\n")
		}
	}
}

// hunkRange is diff(1)'s "start,count": 1-based, the count left out when it is 1, and for an empty range the line
// before it.
func hunkRange(start, count int) string {
	switch count {
	case 0:
		return fmt.Sprintf("%d,0", start)
	case 1:
		return fmt.Sprintf("%d", start+1)
	}
	return fmt.Sprintf("%d,%d", start+1, count)
}
