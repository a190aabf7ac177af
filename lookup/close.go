package lookup

import "io"

// Close closes t when it holds resources (the connections of a socketmap:,
// tcp: or database table), looking through the wrappers Open adds (Folded,
// Bounded). It does nothing for other tables.
func Close(t Table) error {
	for {
		if c, ok := t.(io.Closer); ok {
			return c.Close()
		}
		u, ok := t.(interface{ Unwrap() Table })
		if !ok {
			return nil
		}
		t = u.Unwrap()
	}
}
