package daemon

import (
	"bytes"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mxrelay/mxrelay/internal/testenv"
)

// scrapeAfterLabTraffic runs the lab's traffic through mxrelayd with
// -metrics and returns what a scrape of /metrics gives before it stops.
func scrapeAfterLabTraffic(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	var body string
	runLabTraffic(t, dir, labCases, func(addr string) {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain; version=0.0.4") {
			t.Fatalf("GET /metrics: %s, Content-Type %q", resp.Status, resp.Header.Get("Content-Type"))
		}
		body = string(b)
	}, "-metrics", "127.0.0.1:0", "-log-format", "postfix", "-log-output", filepath.Join(dir, "log"))
	return body
}

// TestMetricsAfterTraffic: after the lab's traffic (a probe, eight
// sessions, seven messages accepted, two recipients refused, four
// delivered, three deferred (one at a suspended destination), one
// bounced), the endpoint's counters say so, and the queue holds the
// three deferred messages.
func TestMetricsAfterTraffic(t *testing.T) {
	body := scrapeAfterLabTraffic(t)
	for _, want := range []string{
		"mxrelay_smtp_sessions_total 9\n",
		"mxrelay_smtp_tls_sessions_total 0\n",
		"mxrelay_messages_accepted_total 7\n",
		`mxrelay_smtp_rejects_total{stage="RCPT",reason="reject_unauth_destination",class="5xx"} 2` + "\n",
		`mxrelay_deliveries_total{status="sent",dsn_class="2"} 4` + "\n",
		`mxrelay_deliveries_total{status="deferred",dsn_class="4"} 3` + "\n",
		`mxrelay_deliveries_total{status="bounced",dsn_class="5"} 1` + "\n",
		"mxrelay_delivery_delay_seconds_count 4\n",
		`mxrelay_delivery_delay_seconds_bucket{le="+Inf"} 4` + "\n",
		"mxrelay_queue_up 1\n",
		`mxrelay_queue_messages{state="deferred",age="5m"} 3` + "\n",
		`mxrelay_queue_messages{state="incoming",age="5m"} 0` + "\n",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("missing %q", want)
		}
	}
	if strings.Contains(body, "mxrelay_lookup_errors_total{") {
		t.Errorf("lookup errors counted where none happened")
	}
	if t.Failed() {
		t.Logf("scrape:\n%s", body)
	}
}

// TestPromtoolCheckMetrics: promtool (Debian's prometheus package, run by
// .ci/run) accepts the endpoint's output.
func TestPromtoolCheckMetrics(t *testing.T) {
	promtool := testenv.NeedProgram(t, "promtool")
	body := scrapeAfterLabTraffic(t)
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s\nscrape:\n%s", err, out.String(), body)
	}
}
