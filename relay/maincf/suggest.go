package maincf

import "strings"

// suggest returns the parameter Postfix knows (or one of mxrelay's own)
// that is nearest to name by edit distance, when it is near enough to be a typo: at most 2 edits, and
// fewer than a third of the name.
func (f *File) suggest(name string) string {
	limit := min(3, len(name)/3+1) // a distance below limit is a typo
	best, bestDist := "", limit
	consider := func(candidate string) {
		d := editDistance(name, candidate, limit)
		if d < bestDist || d == bestDist && best != "" && candidate < best {
			best, bestDist = candidate, d
		}
	}
	for known := range postfixDefaults {
		consider(known)
	}
	for n := range own {
		consider(n)
	}
	for _, s := range f.services() {
		for suffix := range serviceDefaults {
			consider(s + "_" + suffix)
		}
	}
	return best
}

// editDistance is the Levenshtein distance of a and b, case-insensitive,
// or max when it is max or more.
func editDistance(a, b string, max int) int {
	a, b = strings.ToLower(a), strings.ToLower(b)
	if d := len(a) - len(b); d >= max || -d >= max {
		return max
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		rowMin := cur[0]
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			rowMin = min(rowMin, cur[j])
		}
		if rowMin >= max {
			return max
		}
		prev, cur = cur, prev
	}
	return min(prev[len(b)], max)
}
