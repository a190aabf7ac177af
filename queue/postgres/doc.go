// Package postgres is a queue.Queue backend on PostgreSQL, for relays that
// run several processes on one queue or keep their state in a database
// already. It lives in its own module so that only its users depend on
// pgx.
//
// A message is one row of <prefix>messages holding the envelope record
// (queue.EncodeEnvelope, checked on every read: every envelope field is
// in it, each recipient's recorded Destination included, and rows written
// before a field existed still decode) and the columns the schedule needs; its body is stored in 1 MiB chunks in <prefix>bodies, so
// a 50 MB body is streamed in both directions. Store commits one
// transaction: with synchronous_commit on (PostgreSQL's default) the
// message is on disk when Store returns, and PostgreSQL's own WAL group
// commit lets concurrent Stores share a flush. Claim uses SELECT ... FOR
// UPDATE SKIP LOCKED, so any number of processes can claim from one queue
// without handing a message out twice; lease tokens come from a sequence.
//
// Worked example: a relay process sharing its queue with others.
//
//	pool, err := pgxpool.New(ctx, "postgres://mxrelay@127.0.0.1/mail")
//	if err != nil { ... }
//	q, err := postgres.Open(ctx, pool, nil) // creates the tables if missing
//	if err != nil { ... }
//	sched := queue.NewScheduler(q, queue.Config{})
//	// then as in package queue's example: sched.Store, sched.Next, Done, Remove
//
// Differences from the file spool: leases are stored, so a claim survives
// a restart of the claiming process until it expires (other processes may
// be working); Remove is durable (one transaction); the per-destination
// concurrency limits and dead-destination marks of a queue.Scheduler are
// per process, so N processes allow N times Config.Concurrency.
//
// Tests run the queuetest conformance suite against the database named by
// MXRELAY_TEST_POSTGRES (for example
// "postgres://mxq@127.0.0.1:5432/postgres"); they skip without it unless CI
// is set.
package postgres
