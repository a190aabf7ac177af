package main

import (
	"context"
	"fmt"
	"net/http/httptest"
	"time"

	"github.com/mxrelay/mxrelay/lookup"
)

// A Directory is a lookup.Table: keys are folded as Postfix folds them,
// and a directory that cannot be reached is a temporary error (451 4.3.0
// at RCPT), never "unknown user".
func ExampleDirectory() {
	ctx := context.Background()
	srv := httptest.NewServer(directoryHandler([]string{"alice@example.com"}))
	d := &Directory{URL: srv.URL + "/recipients", Timeout: time.Second}
	for _, key := range []string{"Alice@Example.COM", "bob@example.com"} {
		v, found, err := d.Lookup(ctx, key)
		fmt.Printf("%s: %q %v %v\n", key, v, found, err)
	}
	srv.Close()
	_, _, err := d.Lookup(ctx, "alice@example.com")
	fmt.Println("directory down, temporary:", lookup.KindOf(err) == lookup.Temporary)
	// Output:
	// Alice@Example.COM: "OK" true <nil>
	// bob@example.com: "" false <nil>
	// directory down, temporary: true
}
