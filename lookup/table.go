package lookup

import (
	"context"
	"errors"
	"fmt"
	"unicode/utf8"
)

// Table is a Postfix-style lookup table: it maps a key to a value.
//
// Lookup returns found=false and a nil error when the key is absent. An error
// means the table could not answer (a broken file, a dead server, an empty
// value); callers must not treat it as "not found". Errors should be, or wrap,
// an *Error so that callers can tell a temporary failure from a configuration
// error; any other error is treated as temporary.
//
// The built-in tables follow Postfix's smtputf8 rules (dict_utf8.c): a key
// that is not valid UTF-8 is never found, and a value that is not valid
// UTF-8 is a Config error (ErrNonUTF8Value).
//
// Keys are folded for tables of your own, as Postfix folds the keys of its
// fixed-key tables (hash:, cdb:, pgsql:, ldap:...): a TableFunc or any
// other Table that reaches policy, transport or relay through
// policy.Config.Tables, relay.LoadOptions.Tables, maincf.File.SetTable,
// OpenOptions.Types, transport.RouterConfig.TransportMaps or
// transport.TLSPolicyMap.Tables is asked "bob+tag@example.com" and
// "@example.com" when the client wrote "Bob+tag@Example.COM", so a map of
// lower-case addresses works (FoldKey: Unicode full case folding, as
// Postfix with smtputf8_enable = yes). A table that must see keys as
// written (a pattern table) implements KeysAsGiven. See Folded.
//
// Implementations must be safe for concurrent use.
type Table interface {
	Lookup(ctx context.Context, key string) (value string, found bool, err error)
}

// TableFunc adapts an ordinary function to the Table interface. Inside
// mxrelay the function receives folded keys (lower case: see Table and
// Folded); called directly, it receives the key it is given.
type TableFunc func(ctx context.Context, key string) (value string, found bool, err error)

// Lookup calls f(ctx, key).
func (f TableFunc) Lookup(ctx context.Context, key string) (string, bool, error) {
	return f(ctx, key)
}

// ErrorKind classifies a lookup failure the way Postfix's dict layer does.
type ErrorKind int

const (
	// Temporary is a failure that may go away by itself (DICT_ERR_RETRY):
	// a server that does not answer, a file being replaced. Postfix answers
	// "451 4.3.0 Temporary lookup failure".
	Temporary ErrorKind = iota + 1
	// Config is a configuration error (DICT_ERR_CONFIG): a corrupt file, an
	// empty value, a missing table. Postfix answers
	// "451 4.3.5 Server configuration error".
	Config
)

// String returns "temporary" or "configuration".
func (k ErrorKind) String() string {
	switch k {
	case Temporary:
		return "temporary"
	case Config:
		return "configuration"
	}
	return fmt.Sprintf("ErrorKind(%d)", int(k))
}

// Error is a classified table failure.
type Error struct {
	Table string    // the table, as "type:name" when known
	Key   string    // the key being looked up, empty for open errors
	Kind  ErrorKind // Temporary or Config
	Err   error     // the cause
}

// Error returns "type:name lookup of "key": kind error: cause".
func (e *Error) Error() string {
	s := e.Table
	if s == "" {
		s = "table"
	}
	if e.Key != "" {
		s += fmt.Sprintf(" lookup of %q", e.Key)
	}
	return fmt.Sprintf("%s: %s error: %v", s, e.Kind, e.Err)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Temporary reports whether the failure may go away by itself.
func (e *Error) Temporary() bool { return e.Kind != Config }

// ErrEmptyValue is the cause of the Config error returned when a table holds
// an empty value for a key (Postfix's maps.c treats it as a configuration
// error: "should return NO RESULT in case of NOT FOUND"). Postfix 3.7 can
// crash on such a value in a cdb file; we report it.
var ErrEmptyValue = errors.New("empty string result is not allowed")

// ErrNonUTF8Value is the cause of the Config error returned when a table
// holds a value that is not valid UTF-8. Postfix (smtputf8_enable=yes, the
// default) answers "non-UTF-8 value" and fails the query with a
// configuration error; every built-in table does the same.
var ErrNonUTF8Value = errors.New("non-UTF-8 value: malformed UTF-8 or invalid codepoint")

// checkValue applies Postfix's rules to a found value: an empty value
// (maps.c) or one that is not valid UTF-8 (dict_utf8) is a Config error,
// never a result.
func checkValue(table, key, v string) (string, bool, error) {
	if v == "" {
		return "", false, &Error{Table: table, Key: key, Kind: Config, Err: ErrEmptyValue}
	}
	if !utf8.ValidString(v) {
		return "", false, &Error{Table: table, Key: key, Kind: Config, Err: ErrNonUTF8Value}
	}
	return v, true, nil
}

// KindOf classifies err: the Kind of the first *Error in its chain, Temporary
// for any other non-nil error (including context cancellation), and 0 for nil.
func KindOf(err error) ErrorKind {
	if err == nil {
		return 0
	}
	var e *Error
	if errors.As(err, &e) && e.Kind != 0 {
		return e.Kind
	}
	return Temporary
}

// errorf returns an *Error of the given kind.
func errorf(table, key string, kind ErrorKind, format string, args ...any) *Error {
	return &Error{Table: table, Key: key, Kind: kind, Err: fmt.Errorf(format, args...)}
}
