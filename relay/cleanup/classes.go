package cleanup

import (
	"fmt"
	"strings"

	"github.com/mxrelay/mxrelay/lookup"
)

// Classes says which addresses a canonical map rewrites, as Postfix's
// canonical_classes, sender_canonical_classes and
// recipient_canonical_classes.
type Classes uint8

// The address classes of canonical_classes.
const (
	EnvelopeSender    Classes = 1 << iota // envelope_sender: MAIL FROM
	EnvelopeRecipient                     // envelope_recipient: RCPT TO
	HeaderSender                          // header_sender: From:, Sender:, Reply-To:...
	HeaderRecipient                       // header_recipient: To:, Cc:, Bcc:...
	// NoClasses is an explicitly empty class list ("canonical_classes
	// =" in main.cf): the map rewrites nothing. The zero Classes means
	// the parameter's Postfix default instead.
	NoClasses
)

var classNames = []struct {
	name string
	c    Classes
}{{"envelope_sender", EnvelopeSender}, {"envelope_recipient", EnvelopeRecipient}, {"header_sender", HeaderSender}, {"header_recipient", HeaderRecipient}}

// ParseClasses reads a canonical_classes value: any of envelope_sender,
// envelope_recipient, header_sender, header_recipient, separated by
// commas or white space. An empty value is NoClasses; an unknown name is
// an error naming it, as Postfix refuses it.
func ParseClasses(value string) (Classes, error) {
	var c Classes
	for _, tok := range lookup.SplitList(value) {
		found := false
		for _, n := range classNames {
			if strings.EqualFold(tok, n.name) {
				c |= n.c
				found = true
			}
		}
		if !found {
			return 0, fmt.Errorf("unknown address class %q (want envelope_sender, envelope_recipient, header_sender or header_recipient)", tok)
		}
	}
	if c == 0 {
		return NoClasses, nil
	}
	return c, nil
}

// has reports whether c (the zero value meaning def) includes class.
func (c Classes) has(class, def Classes) bool {
	if c == 0 {
		c = def
	}
	return c&class != 0
}
