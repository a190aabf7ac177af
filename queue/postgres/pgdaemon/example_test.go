package pgdaemon_test

import (
	"flag"
	"fmt"

	"github.com/mxrelay/mxrelay/queue/postgres/pgdaemon"
)

// Type names the URL schemes it opens and defines its flags on the
// daemon's flag set (and on each queue tool's).
func ExampleType() {
	t := pgdaemon.Type()
	fs := flag.NewFlagSet("mxrelayd", flag.ContinueOnError)
	t.Define(fs)
	fmt.Println(t.Schemes)
	fs.VisitAll(func(f *flag.Flag) { fmt.Println("-" + f.Name) })
	// Output:
	// [postgres postgresql]
	// -node-ttl
	// -prefix
}
