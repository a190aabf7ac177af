// Package queue is a durable mail queue with Postfix's retry rules, for a
// Go program that relays mail: it holds what the relay accepted until the
// next hop takes it, for days if the primary MX is down, and never loses
// a message it acknowledged.
//
// It has three parts:
//
//   - Queue, the storage interface, with two backends: Spool, files in a
//     directory (the default: crash-safe, group-committed), and Memory
//     (for tests and programs that accept losing mail on restart). Package
//     queuetest is the conformance suite any backend must pass; module
//     github.com/mxrelay/mxrelay/queue/postgres passes it on PostgreSQL.
//   - Scheduler, on top of a Queue: it hands due messages to delivery
//     workers with a lease, records per-recipient outcomes, computes the
//     next attempt and the expiry like Postfix's queue manager, suspends
//     dead destinations and caps concurrency per destination.
//   - Inspection and control as mailq, postqueue and postsuper offer:
//     Scheduler.List with a Filter, Get, Body, Flush (all, or one domain
//     for ETRN), Hold, Release, Delete.
//
// The package imports no other package of this module.
//
// # Worked example
//
// Accept a message, deliver it in a worker loop, bounce what failed:
//
//	sp, err := queue.OpenSpool(ctx, "/var/spool/mxrelay", &queue.SpoolOptions{Logger: log})
//	if err != nil { ... } // queue.ErrLocked: another process has it open
//	defer sp.Close()
//	for _, r := range sp.Recovered() { log.Warn("spool file set aside", "file", r.Name, "err", r.Err) }
//	sched := queue.NewScheduler(sp, queue.Config{
//		Domains: map[string]queue.Lifetimes{"example.com": {Maximal: 20 * 24 * time.Hour}},
//	})
//
//	// In the SMTP DATA handler: answer 250 only after Store returns nil.
//	// dest is the recipient's transport:nexthop ("relay:[mx.example]"),
//	// routed when RCPT was accepted; "" counts it against its domain.
//	env := &queue.Envelope{Sender: from, Recipients: []queue.Recipient{{Address: rcpt, Destination: dest}}}
//	if err := sched.Store(ctx, env, dataReader); err != nil { return tempFail(err) }
//
//	// Each delivery worker:
//	for {
//		d, err := sched.Next(ctx) // waits for due mail
//		if err != nil { return err }
//		if u := d.Envelope.Unnotified(); len(u) > 0 { // a worker died before marking its DSNs
//			bounce(d.Envelope, u)
//			sched.MarkNotified(ctx, d, u)
//		}
//		out := deliver(ctx, d.Envelope, d.Attempt) // []queue.Outcome
//		if _, ok, err := sched.Finish(ctx, d, out); ok && err == nil {
//			continue // all delivered, nothing to notify: removed at once
//		}
//		rep, err := sched.Done(ctx, d, out)
//		if err != nil { continue } // queue.ErrLeaseLost: another worker has it now
//		fin := slices.Concat(rep.Delivered, rep.Failed, rep.Expired)
//		bounce(rep.Envelope, fin)        // DSNs due, unless the sender is <>
//		sched.MarkNotified(ctx, d, fin)  // a successor will not send them again
//		warn(rep.DelayWarning)           // delay_warning_time reached
//		if rep.Final { sched.Remove(ctx, d) }
//	}
//
// With the defaults a message that keeps being deferred is tried at 0, 300,
// 600, 1200, 2400, 4800 and 8800 seconds after arrival, then every 4000
// seconds, until maximal_queue_lifetime (5 days) has passed; its still
// deferred recipients then come back in Report.Expired.
//
// # Postfix parameters and RFCs
//
// Config follows Postfix 3.7's queue manager, qmgr(8): the backoff and the
// expiry as its qmgr_active.c computes them, dead destinations as its
// qmgr_queue.c marks them, and the defaults of postconf(5).
// MinimalBackoff and MaximalBackoff are minimal_backoff_time (300s) and
// maximal_backoff_time (4000s): the next attempt is
// clamp(time in queue, minimal, maximal) after an attempt that left a
// recipient deferred. Lifetimes are maximal_queue_lifetime (5d),
// bounce_queue_lifetime (5d, capped to the former, for mail from <>) and
// delay_warning_time (off); a negative lifetime is Postfix's 0 (one
// attempt). DeadTime is how long a destination stays suspended after a
// site-level failure (at most minimal_backoff_time in Postfix); Concurrency
// is default_destination_concurrency_limit (20), and Transports the
// limits of one transport (the part of a Destination before its ":"):
// TRANSPORT_destination_concurrency_limit per destination and its
// master.cf process limit over all its destinations, as qmgr_transport.c
// applies them. The envelope keeps the RFC 3461 DSN parameters (NOTIFY,
// ORCPT, RET, ENVID), the RFC 6531 SMTPUTF8 flag and the client's
// attributes (Client, for XFORWARD) for the relay to pass on.
//
// # Durability
//
// Spool.Store returns only when the message is on disk. Messages of up to
// 128 KiB stored at the same time share one segment file and one fsync
// (group commit): body, envelope and footer are written into a spare
// segment file made ahead, whose name is already durable, fsynced and
// renamed; a segment whose messages are all removed becomes a spare again. Larger ones are streamed to a file of their own: a temporary
// file, fsynced, renamed into msg/, and msg/ fsynced. Every state
// change replaces msg/<ID>.env the same way; removing a message of a
// segment appends a record to a removal log (one write, no new file).
// Records carry a CRC-32C and bodies a CRC-32C checked when read. On open
// the spool scans msg/, replays the removal log, rebuilds the schedule,
// finishes interrupted removals and moves any file
// it cannot use to corrupt/, reporting it (Spool.Recovered): never a
// silent deletion, never a refusal to start. A lock file (flock) keeps a
// second process out with ErrLocked. A test kills a writing child process
// with SIGKILL hundreds of times and checks every acknowledged message;
// others crash the opening scan at each of its repair steps, and damage
// every kind of spool file.
//
// A full disk or an I/O error fails Store or Modify with an error wrapping
// the errno (syscall.ENOSPC, syscall.EIO): nothing of it is visible, now or
// after a restart, and nothing acknowledged changes. After a failed
// directory fsync the Spool acknowledges nothing more (what the kernel
// dropped is unknown) until it is reopened.
//
// # Notifying senders once
//
// Done reports the recipients to bounce, but the queue cannot send a DSN
// and record it in one step. Recipient.Notified closes the gap: the worker
// queues the DSNs, then calls MarkNotified; a worker that claims the
// message after a crash sends only those of Envelope.Unnotified. See
// MarkNotified for the protocol; a sender is notified twice only when a
// worker dies between queuing a DSN and MarkNotified.
//
// # Deliberate differences from Postfix
//
//   - No queue_run_delay: a deferred message is due exactly at its
//     NextAttempt instead of at the next scan of the deferred queue, so
//     retries are not rounded up to the scan interval.
//   - Lifetimes can be set per recipient domain (Config.Domains): a backup
//     MX keeps mail for the domains it backs up longer than the global
//     lifetime. Postfix has only the global parameters.
//   - Mail for a destination at its concurrency limit is parked (with
//     Memory and Spool) until a slot of that destination frees, so it does
//     not hold up mail for other destinations, as Postfix's per-destination
//     queues in qmgr ensure.
//   - Concurrency is a fixed limit per destination, without Postfix's
//     slow start from initial_destination_concurrency and without the
//     failed-cohort logic; a destination fails at site level when a worker
//     says so (Outcome.Site).
//   - Destinations are what the caller recorded in Recipient.Destination
//     when it accepted the recipient (default: the recipient domain);
//     Postfix keys dead marks and concurrency by transport and next hop,
//     which the relay records there. The Scheduler never looks a route
//     up: nothing outside the queue's own storage runs under its locks.
//   - Claims are leases, so several workers (goroutines) can deliver from
//     one queue and a hung worker's message becomes due again; Postfix's
//     single queue manager process needs none.
//   - The queue does not write bounces: Done reports Failed, Expired and
//     delay-warning recipients and the caller sends the DSNs.
//   - The spool is not Postfix's queue format, and bodies are checked
//     against a checksum when read. Like Postfix, removing a message is
//     not fsynced: after a power failure a delivered message may be
//     delivered again, never lost.
package queue
