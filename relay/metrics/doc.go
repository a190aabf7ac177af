// Package metrics counts the relay's events and serves them, with the
// queue's size by state and age, in Prometheus's text exposition format
// (version 0.0.4), which Prometheus scrapes and promtool checks.
//
// A Metrics is a relay.Observer (and a relay.SessionObserver) and an
// http.Handler:
//
//	m := metrics.New(&metrics.Options{Queue: spool})
//	ld, err := relay.Load(ctx, cf, relay.LoadOptions{Queue: spool, Observer: m})
//	...
//	http.Handle("GET /metrics", m)
//
// The series:
//
//	mxrelay_smtp_sessions_total, mxrelay_smtp_tls_sessions_total
//	mxrelay_messages_accepted_total, mxrelay_messages_accepted_bytes_total
//	mxrelay_smtp_rejects_total{stage, reason, class}   reason: the restriction (reject_unauth_destination...)
//	mxrelay_deliveries_total{status, dsn_class}        sent, deferred, bounced, expired, discarded; 2, 4, 5
//	mxrelay_lookup_errors_total{kind, where}           table or dns; smtpd or delivery
//	mxrelay_delivery_delay_seconds                     histogram, arrival to delivery, per recipient delivered
//	mxrelay_queue_up                                   1 when the queue was read for this scrape
//	mxrelay_queue_messages{state, age}                 incoming, active, deferred, hold; qshape's age buckets
//	mxrelay_queue_oldest_message_age_seconds{state}
//
// The queue is walked (Walker, which every queue.Queue has) at most once
// per Options.QueueInterval (10s): a large spool is not read at every
// scrape. The endpoint has no authentication: listen on loopback, or
// behind what protects your other exporters.
//
// The format is written here rather than with the Prometheus client
// library: the few series above need counters, gauges and one histogram,
// and github.com/prometheus/client_golang v1.25.0 would raise the go
// directive of every user of this module to 1.26 and add a dozen modules
// (protobuf among them) to its graph.
package metrics
