package lookup

import (
	"sort"
	"strings"
	"unicode/utf8"
)

//go:generate python3 internal/gen/foldgen.py

// FoldKey folds a key as Postfix folds keys of fixed-key tables (hash,
// cdb, ...; Postfix's casefold.c) with smtputf8_enable=yes: Unicode full
// case folding, as ICU's u_strFoldCase
// (so "Straße" and "STRASSE" both become "strasse", and "Σ" and "ς" become
// "σ"). It does not allocate when the key is already folded ASCII. Invalid
// UTF-8 bytes are kept as they are.
func FoldKey(key string) string {
	for i := 0; i < len(key); i++ {
		c := key[i]
		if c >= 0x80 || 'A' <= c && c <= 'Z' {
			return foldSlow(key, i)
		}
	}
	return key
}

func foldSlow(key string, from int) string {
	var b strings.Builder
	b.Grow(len(key))
	b.WriteString(key[:from])
	for i := from; i < len(key); {
		c := key[i]
		if c < utf8.RuneSelf {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			b.WriteByte(c)
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(key[i:])
		if r == utf8.RuneError && n == 1 {
			b.WriteByte(c)
			i++
			continue
		}
		if j := sort.Search(len(foldRunes), func(j int) bool { return foldRunes[j] >= r }); j < len(foldRunes) && foldRunes[j] == r {
			b.WriteString(foldTo[j])
		} else {
			b.WriteString(key[i : i+n])
		}
		i += n
	}
	return b.String()
}
