// Package control lets queue tools work on the queue of a running relay,
// as Postfix's postqueue(1) and postsuper(1) do through its showq and
// flush services: a Server answers requests on a UNIX-domain socket in
// the queue directory, and a Client sends them. With the relay stopped,
// Local runs the same requests in process on a Scheduler over the opened
// queue, so a tool has one code path either way. Tool is that code path:
// the commands' options and their output as Postfix's tools print it,
// for mxrelayd and for mxrelayd-pg (module queue/postgres), which runs
// the tools on the shared queue itself.
//
// The socket is created with mode 0600 and, on Linux, a peer whose user
// is neither the server's nor root is refused (SO_PEERCRED): the queue
// holds other people's mail. Requests and replies are one JSON line
// each, capped (MaxRequestBytes); a message's content follows its reply
// as raw bytes for Show.
//
// # Worked example
//
// In the daemon, next to the queue:
//
//	l, err := control.Listen(filepath.Join(dir, "control"))
//	if err != nil { ... }
//	srv := &control.Server{Scheduler: sched, Reload: reload, Logger: log}
//	go srv.Serve(ctx, l)
//
// In the tool (postqueue -f):
//
//	c := control.Dial(filepath.Join(dir, "control"))
//	resp, err := c.Do(ctx, control.Request{Op: control.OpFlush})
//	fmt.Println(resp.Count, "messages made due")
//
// # Postfix commands
//
// OpList is postqueue -p and -j (and mailq), OpFlush postqueue -f and -s
// SITE, OpKick postqueue -i ID, OpHold and OpRelease postsuper -h and -H,
// OpRequeue postsuper -r, OpDelete postsuper -d, OpShow postcat -q, and
// OpReload postfix reload.
package control
