// Package postgres is a queue.Queue backend on PostgreSQL, for two or
// more relays (MX hosts) that share one queue: any node accepts, any node
// delivers, a node that dies leaves its mail to the others, and no
// message is handed to two nodes at once. It lives in its own module so
// that only its users depend on pgx. Package pgdaemon links it into
// mxrelayd's daemon: the mxrelayd of examples/mxrelayd/all and this
// module's cmd/mxrelayd-pg take -queue postgres://....
//
// Worked example: a relay process sharing its queue with others.
//
//	q, err := postgres.Connect(ctx, "postgres://mxrelay@db.example.net/mail", nil)
//	if err != nil {
//		return err // unreachable, refused, or a schema newer than this code
//	}
//	defer q.Close()
//	sched := queue.NewScheduler(q, queue.Config{})
//	// then as in package queue's example: sched.Store, sched.Next, Done, Remove
//
// # Schema
//
// Open creates the tables on first use and migrates them on later ones.
// The schema is versioned (<prefix>schema holds its version); each step
// runs once, in one transaction, under an advisory lock, so nodes that
// start at once take turns and the later ones find the work done. A
// schema newer than the program is refused, never downgraded. A queue
// made before the schema had a version is adopted as version 1.
//
// A message is one row of <prefix>messages holding the envelope record
// (queue.EncodeEnvelope, checked on every read) and the columns the
// schedule needs; its body is stored in 1 MiB chunks in <prefix>bodies,
// so a 50 MB body is streamed in both directions.
//
// # Stores
//
// A message with a body of up to 1 MiB joins a group commit: Stores that
// arrive while a transaction commits share the next one, which inserts
// all their rows with one statement per table. With synchronous_commit
// on (PostgreSQL's default) a message is on disk when Store returns. A
// larger body is streamed in a transaction of its own, with COPY ...
// FROM STDIN in PostgreSQL's binary format, holding one chunk at a time
// (the conformance suite's Streaming check: a 50 MB Store allocates less
// than a quarter of it).
//
// # Claims, nodes and wakeups
//
// Claim uses SELECT ... FOR UPDATE SKIP LOCKED, so any number of
// processes claim from one queue without handing a message out twice;
// lease tokens come from a sequence. Each open Queue is a node with a row
// in <prefix>nodes, renewed every NodeTTL/3; a claim records its node,
// and when a node is not heard of for Options.NodeTTL (30s) any other
// node ends its claims, so that mail a crashed process was delivering is
// delivered by another one within about NodeTTL (a message whose delivery
// the dead node had finished but not recorded is delivered twice, as
// Postfix delivers it twice when it crashes there).
//
// Every transaction that makes mail claimable (a Store, a Flush, a
// Release, a dead node's claims ended) sends a NOTIFY on <prefix>queue,
// and Wakeups (queue.Waker) turns them into wakeups of the Scheduler's
// idle workers: mail stored on one node is claimed at once by an idle
// one. Polling (queue.Config.Poll) remains the fallback.
//
// # Scheduling state shared by the cluster
//
// Queue implements queue.Shared, so that a queue.Scheduler on it keeps
// its scheduling state in the database, where it holds for every node:
// a claim takes one slot per destination (<prefix>slots) in the claim's
// transaction, counting the live claims of all nodes, so that a
// destination limited to Config.Concurrency (Postfix's
// default_destination_concurrency_limit, or its transport's
// Config.Transports limit) gets that many deliveries from the whole
// cluster, not from each node, and so does a transport's process limit
// (TransportLimits.Processes, one slot per message); a slot ends with its claim (Done,
// Remove, or the claim's end when its node dies). Claims counting the
// same destination take turns on an advisory lock of that destination;
// each message row lists the destinations of its pending recipients, so
// that a claim that found a destination at its limit has the server pass
// over that destination's other messages.
// Dead-destination marks (<prefix>dead) are written by the node that saw
// the site fail and read by every node at least once a second (at every
// claim while it holds marks), and a Flush, Kick or Requeue on any node
// lifts them for all.
//
// # Differences from the file spool
//
// Leases are stored, so a claim survives a restart of the claiming
// process until its node expires (other processes may be working);
// Remove is durable (one transaction); concurrency limits and dead marks
// hold for the cluster (above); the queue tools (mxrelayd mailq,
// postqueue, postsuper, postcat, with -queue postgres://...) act on the
// queue directly from any machine that reaches the database, since there
// is no spool lock.
//
// Tests run the queuetest conformance suite, and the cluster tests of
// mxrelayd-pg, against the database named by MXRELAY_TEST_POSTGRES (for
// example "postgres://mxq@127.0.0.1:5432/postgres"); they skip without
// it unless CI is set.
package postgres
