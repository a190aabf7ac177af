package metrics

import (
	"bufio"
	"context"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mxrelay/mxrelay/queue"
	"github.com/mxrelay/mxrelay/relay"
)

// Walker walks the queue's messages; queue.Queue (a Spool, a Memory)
// has this method.
type Walker interface {
	Walk(ctx context.Context, fn func(*queue.Envelope) error) error
}

// Options configure Metrics. The zero value counts events and reports no
// queue.
type Options struct {
	// Queue is walked for the queue's size by state and age. Nil: no
	// queue metrics.
	Queue Walker
	// QueueInterval is the least time between two walks of the queue:
	// scrapes in between get the last walk's figures, so that several
	// Prometheus servers, or a short scrape interval, do not read a large
	// spool over and over. Default 10s; negative: walk at every scrape.
	QueueInterval time.Duration
	// Now is the clock for message ages. Default time.Now.
	Now func() time.Time
}

// Metrics counts the relay's events (it is a relay.Observer and a
// relay.SessionObserver) and writes them, with the queue's size, in
// Prometheus's text exposition format (version 0.0.4). It is safe for
// concurrent use.
type Metrics struct {
	queue    Walker
	interval time.Duration
	now      func() time.Time

	walkMu   sync.Mutex // one walk at a time; guards the last walk
	lastWalk time.Time
	lastQ    *queueShape

	mu            sync.Mutex
	sessions      uint64
	tlsSessions   uint64
	accepted      uint64
	acceptedBytes uint64
	rejected      map[[3]string]uint64 // stage, restriction, reply class
	deliveries    map[[2]string]uint64 // status, DSN class
	lookupErrors  map[[2]string]uint64 // kind, where
	delay         histogram
}

// delayBuckets are the upper bounds of the delivery delay histogram, in
// seconds: from a hop on the same network to a day in the queue.
var delayBuckets = []float64{0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 14400, 86400}

// New returns Metrics with no events counted.
func New(o *Options) *Metrics {
	if o == nil {
		o = &Options{}
	}
	now := o.Now
	if now == nil {
		now = time.Now
	}
	interval := o.QueueInterval
	if interval == 0 {
		interval = 10 * time.Second
	}
	return &Metrics{
		queue: o.Queue, now: now, interval: interval,
		rejected:     make(map[[3]string]uint64),
		deliveries:   make(map[[2]string]uint64),
		lookupErrors: make(map[[2]string]uint64),
		delay:        histogram{bounds: delayBuckets, counts: make([]uint64, len(delayBuckets))},
	}
}

// Accepted implements relay.Observer.
func (m *Metrics) Accepted(a relay.Accepted) {
	m.mu.Lock()
	m.accepted++
	m.acceptedBytes += uint64(max(a.Size, 0))
	m.mu.Unlock()
}

// Rejected implements relay.Observer.
func (m *Metrics) Rejected(r relay.Rejection) {
	reason := r.Reason
	if reason == "" {
		reason = "none"
	}
	m.mu.Lock()
	m.rejected[[3]string{r.Stage, reason, codeClass(r.Code)}]++
	if r.Cause != "" {
		m.lookupErrors[[2]string{r.Cause, "smtpd"}]++
	}
	m.mu.Unlock()
}

// Attempted implements relay.Observer.
func (m *Metrics) Attempted(a relay.Attempt) {
	class := "unknown"
	if a.DSN != "" {
		class = a.DSN[:1]
	}
	m.mu.Lock()
	m.deliveries[[2]string{a.Status, class}]++
	if a.Status == "sent" {
		m.delay.observe(a.Delay.Seconds())
	}
	if a.Cause == "table" || a.Cause == "dns" {
		m.lookupErrors[[2]string{a.Cause, "delivery"}]++
	}
	m.mu.Unlock()
}

// SessionEnded implements relay.SessionObserver.
func (m *Metrics) SessionEnded(e relay.SessionEnd) {
	m.mu.Lock()
	m.sessions++
	if e.TLS {
		m.tlsSessions++
	}
	m.mu.Unlock()
}

// codeClass is "4xx" or "5xx" for a reply code.
func codeClass(code int) string {
	if code >= 100 && code <= 599 {
		return strconv.Itoa(code/100) + "xx"
	}
	return "unknown"
}

// ServeHTTP writes the metrics, for a Prometheus scrape.
func (m *Metrics) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	if err := m.Write(r.Context(), w); err != nil {
		// Headers are gone: the scrape sees a truncated body and fails.
		return
	}
}

// Write writes the metrics in Prometheus's text format. The queue is
// walked first, outside the lock the event counters take.
func (m *Metrics) Write(ctx context.Context, w io.Writer) error {
	q, qerr := m.walkQueue(ctx)
	bw := bufio.NewWriter(w)
	e := &expo{w: bw}
	m.mu.Lock()
	e.scalar("mxrelay_smtp_sessions_total", "counter", "SMTP sessions that ended.", float64(m.sessions))
	e.scalar("mxrelay_smtp_tls_sessions_total", "counter", "SMTP sessions that ended and used TLS.", float64(m.tlsSessions))
	e.scalar("mxrelay_messages_accepted_total", "counter", "Messages stored and answered 250.", float64(m.accepted))
	e.scalar("mxrelay_messages_accepted_bytes_total", "counter", "Bytes of the messages accepted, as stored.", float64(m.acceptedBytes))
	e.labeled("mxrelay_smtp_rejects_total", "counter", "SMTP commands refused by policy, by stage, restriction and reply class.",
		[]string{"stage", "reason", "class"}, rows3(m.rejected))
	e.labeled("mxrelay_deliveries_total", "counter", "Delivery outcomes per recipient, by status (sent, deferred, bounced, expired, discarded) and DSN class (2, 4, 5).",
		[]string{"status", "dsn_class"}, rows2(m.deliveries))
	e.labeled("mxrelay_lookup_errors_total", "counter", "Table and DNS lookups that failed, by kind and where (smtpd, delivery).",
		[]string{"kind", "where"}, rows2(m.lookupErrors))
	e.histogram("mxrelay_delivery_delay_seconds", "Time from arrival to delivery of each recipient delivered.", &m.delay)
	m.mu.Unlock()
	if m.queue != nil {
		up := 1.0
		if qerr != nil {
			up = 0
		}
		e.scalar("mxrelay_queue_up", "gauge", "1 when the queue could be read for this scrape.", up)
		if qerr == nil {
			q.write(e)
		}
	}
	if e.err != nil {
		return e.err
	}
	return bw.Flush()
}

type row struct {
	labels []string
	value  float64
}

func rows2(m map[[2]string]uint64) []row {
	out := make([]row, 0, len(m))
	for k, v := range m {
		out = append(out, row{[]string{k[0], k[1]}, float64(v)})
	}
	sortRows(out)
	return out
}

func rows3(m map[[3]string]uint64) []row {
	out := make([]row, 0, len(m))
	for k, v := range m {
		out = append(out, row{[]string{k[0], k[1], k[2]}, float64(v)})
	}
	sortRows(out)
	return out
}

func sortRows(rs []row) {
	slices.SortFunc(rs, func(a, b row) int { return slices.Compare(a.labels, b.labels) })
}

// histogram is a Prometheus histogram: counts per upper bound (not
// cumulative; Write adds them up), the sum and the count.
type histogram struct {
	bounds []float64
	counts []uint64
	sum    float64
	count  uint64
}

func (h *histogram) observe(v float64) {
	if i, _ := slices.BinarySearch(h.bounds, v); i < len(h.bounds) {
		h.counts[i]++
	}
	h.sum += v
	h.count++
}

// expo writes the text format, keeping the first error.
type expo struct {
	w   *bufio.Writer
	err error
}

func (e *expo) header(name, typ, help string) {
	e.printf("# HELP ", name, " ", help, "\n# TYPE ", name, " ", typ, "\n")
}

func (e *expo) printf(parts ...string) {
	if e.err != nil {
		return
	}
	for _, p := range parts {
		if _, err := e.w.WriteString(p); err != nil {
			e.err = err
			return
		}
	}
}

func (e *expo) scalar(name, typ, help string, v float64) {
	e.header(name, typ, help)
	e.printf(name, " ", formatFloat(v), "\n")
}

func (e *expo) labeled(name, typ, help string, keys []string, rows []row) {
	e.header(name, typ, help)
	for _, r := range rows {
		e.printf(name, labelSet(keys, r.labels), " ", formatFloat(r.value), "\n")
	}
}

func (e *expo) histogram(name, help string, h *histogram) {
	e.header(name, "histogram", help)
	var cum uint64
	for i, b := range h.bounds {
		cum += h.counts[i]
		e.printf(name, `_bucket{le="`, formatFloat(b), `"} `, strconv.FormatUint(cum, 10), "\n")
	}
	e.printf(name, `_bucket{le="+Inf"} `, strconv.FormatUint(h.count, 10), "\n")
	e.printf(name, "_sum ", formatFloat(h.sum), "\n")
	e.printf(name, "_count ", strconv.FormatUint(h.count, 10), "\n")
}

// labelSet formats {k1="v1",k2="v2"} with the values escaped.
func labelSet(keys, values []string) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(k)
		b.WriteString(`="`)
		b.WriteString(escapeLabel(values[i]))
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

// escapeLabel escapes a label value as the text format requires:
// backslash, double quote and line feed; invalid UTF-8 is replaced.
func escapeLabel(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}

func formatFloat(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}
