package control

import (
	"time"

	"github.com/mxrelay/mxrelay/queue"
)

// Operations.
const (
	OpList    = "list"    // every message (postqueue -p, -j)
	OpFlush   = "flush"   // deferred mail due now; Site limits it (postqueue -f, -s)
	OpKick    = "kick"    // these messages due now (postqueue -i)
	OpHold    = "hold"    // postsuper -h
	OpRelease = "release" // postsuper -H
	OpRequeue = "requeue" // postsuper -r
	OpDelete  = "delete"  // postsuper -d
	OpShow    = "show"    // one message's envelope and content (postcat -q)
	OpReload  = "reload"  // reload the configuration (postfix reload)
	OpPing    = "ping"    // is a server there? (no change)
)

// All selects every message when given in Request.IDs, as postsuper's "ALL".
const All = "ALL"

// MaxRequestBytes caps a request line: a peer cannot make the server
// buffer more.
const MaxRequestBytes = 1 << 20

// Request is one command.
type Request struct {
	Op string `json:"op"`
	// Site limits OpFlush to messages with a pending recipient in that
	// domain (postqueue -s).
	Site string `json:"site,omitempty"`
	// IDs are the queue IDs OpKick, OpHold, OpRelease, OpRequeue,
	// OpDelete and OpShow (one) apply to; All selects every message.
	IDs []string `json:"ids,omitempty"`
}

// Response is the reply to a Request.
type Response struct {
	// Error says why the request failed; empty on success. An ID that
	// does not exist is not an error: it is left out of Count.
	Error string `json:"error,omitempty"`
	// Count is how many messages the operation changed.
	Count int `json:"count"`
	// Messages are OpList's messages (and OpShow's one), oldest first.
	Messages []Message `json:"messages,omitempty"`
	// BodySize is the size of the content that follows an OpShow reply.
	BodySize int64 `json:"body_size,omitempty"`
}

// Message is one queued message as postqueue -j reports it.
type Message struct {
	// QueueName is "incoming", "active", "deferred" or "hold".
	QueueName   string      `json:"queue_name"`
	QueueID     string      `json:"queue_id"`
	ArrivalTime int64       `json:"arrival_time"` // seconds since the epoch
	MessageSize int64       `json:"message_size"`
	Sender      string      `json:"sender"`
	Recipients  []Recipient `json:"recipients"`
}

// Recipient is one pending recipient of a Message.
type Recipient struct {
	Address     string `json:"address"`
	DelayReason string `json:"delay_reason,omitempty"`
}

// queueNames are the postqueue names of the MessageStates.
var queueNames = map[queue.MessageState]string{
	queue.Incoming: "incoming", queue.Active: "active", queue.Waiting: "deferred", queue.Hold: "hold",
}

// messageOf reports e as postqueue does: its pending recipients, with
// the reasons they were deferred.
func messageOf(e *queue.Envelope, now time.Time) Message {
	m := Message{QueueName: queueNames[queue.StateOf(e, now)], QueueID: string(e.ID),
		ArrivalTime: e.Arrival.Unix(), MessageSize: e.Size, Sender: e.Sender, Recipients: []Recipient{}}
	for _, i := range e.Pending() {
		r := &e.Recipients[i]
		m.Recipients = append(m.Recipients, Recipient{Address: r.Address, DelayReason: r.Reason})
	}
	return m
}
