package policy

import (
	"context"

	"github.com/mxrelay/mxrelay/lookup"
)

// Routes tells policy where a recipient's mail would go. relay wires
// transport.Router in; policy itself never imports transport.
type Routes interface {
	// Route returns the transport name ("smtp", "relay", "error",
	// "retry"...) and nexthop of the recipient's route; for error and
	// retry the nexthop is the text ("5.1.2 no mail here"). An error is
	// a temporary failure (451 4.3.0).
	Route(ctx context.Context, recipient string) (transport, nexthop string, err error)
}

// RoutesFunc adapts a function to Routes.
type RoutesFunc func(ctx context.Context, recipient string) (transport, nexthop string, err error)

// Route calls f.
func (f RoutesFunc) Route(ctx context.Context, recipient string) (string, string, error) {
	return f(ctx, recipient)
}

// Recipients decides whether a recipient of a local, alias or virtual
// domain exists: the hook for an embedding server's own users.
type Recipients interface {
	// Known reports whether recipient (local@domain, domain lower-case
	// ASCII as received, without trailing dot) exists. class is
	// lookup.ClassLocal, ClassAlias or ClassVirtual. An error is a
	// temporary failure (451 4.3.0).
	Known(ctx context.Context, class lookup.Class, recipient string) (bool, error)
}

// RecipientsFunc adapts a function to Recipients.
type RecipientsFunc func(ctx context.Context, class lookup.Class, recipient string) (bool, error)

// Known calls f.
func (f RecipientsFunc) Known(ctx context.Context, class lookup.Class, recipient string) (bool, error) {
	return f(ctx, class, recipient)
}
