package metrics_test

import (
	"context"
	"os"
	"strings"
	"time"

	"github.com/mxrelay/mxrelay/relay"
	"github.com/mxrelay/mxrelay/relay/metrics"
)

// The relay calls the Observer methods; a scrape writes the counters.
func ExampleMetrics() {
	m := metrics.New(nil)
	m.Attempted(relay.Attempt{Status: "sent", DSN: "2.0.0", Delay: 200 * time.Millisecond})
	m.Attempted(relay.Attempt{Status: "deferred", DSN: "4.4.1"})
	var b strings.Builder
	m.Write(context.Background(), &b)
	for _, line := range strings.Split(b.String(), "\n") {
		if strings.HasPrefix(line, "mxrelay_deliveries_total") {
			os.Stdout.WriteString(line + "\n")
		}
	}
	// Output:
	// mxrelay_deliveries_total{status="deferred",dsn_class="4"} 1
	// mxrelay_deliveries_total{status="sent",dsn_class="2"} 1
}
