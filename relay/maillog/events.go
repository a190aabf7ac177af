package maillog

// The relay's events: the messages of the slog records package relay
// writes, and the attributes each carries. A Handler renders them as the
// lines Postfix 3.7 writes for the same event; any other record becomes a
// plain line (a "warning: " one at slog.LevelWarn and above). slog's own
// text and JSON handlers print the same records with the same keys.
const (
	// Connect: an SMTP client connected. Attributes: Client.
	// Postfix smtpd: "connect from host[addr]".
	Connect = "connect"
	// Disconnect: an SMTP session ended. Attributes: Client, Commands.
	// Postfix smtpd: "disconnect from host[addr] ehlo=1 mail=1 ... commands=5".
	Disconnect = "disconnect"
	// Reject: policy refused an SMTP command. Attributes: QueueID (absent
	// before the first accepted recipient), Stage, Client, Reply, From
	// (absent before MAIL), To, Proto, Helo (absent before HELO), Err
	// (the internal cause, when there is one). Postfix smtpd:
	// "NOQUEUE: reject: RCPT from host[addr]: 554 5.7.1 <u@x>: Relay
	// access denied; from=<s@y> to=<u@x> proto=ESMTP helo=<h>".
	Reject = "reject"
	// Hold, Discard, Filter, Redirect, Bcc, Warn, Info and RejectWarning: an access action, or
	// a rejection that warn_if_reject turned into a warning. Attributes
	// as Reject's, Reply holding the text Postfix logs
	// (policy.Action.Log). Postfix smtpd: "NOQUEUE: hold: RCPT from
	// host[addr]: <u@x>: Recipient address triggers HOLD action;
	// from=<s@y> to=<u@x> proto=ESMTP helo=<h>", "NOQUEUE:
	// reject_warning: RCPT from ...: 554 5.7.1 ...; from=<...> ...".
	Hold          = "hold"
	Discard       = "discard"
	Filter        = "filter"
	Redirect      = "redirect"
	Bcc           = "bcc"
	Warn          = "warn"
	Info          = "info"
	RejectWarning = "reject_warning"
	// Content: a header_checks or body_checks action (relay/cleanup).
	// Attributes: QueueID, Kind (the action: reject, warning, info,
	// hold, discard, filter, redirect, bcc, prepend, replace...),
	// Context (header or body), Text (the field or line, cut at 200
	// bytes), Client, From, To (the last recipient), Proto, Helo, and
	// Reason (the action's text; absent when there is none). Postfix
	// cleanup (cleanup_act.c): "QUEUEID: reject: header Subject: x from
	// host[addr]; from=<s@y> to=<u@x> proto=ESMTP helo=<h>: 5.7.1
	// message content rejected".
	Content = "content"
	// DeliveryContent: a delivery agent's content check action
	// (smtp_header_checks, smtp_body_checks...). Attributes: QueueID,
	// Kind (replace, prepend, strip, warning, info), Context (header or
	// body), Text (cut at 60 bytes), Transport, Reason (the action's
	// text, absent when there is none). Postfix smtp: "QUEUEID: replace:
	// header Subject: x: Subject: y".
	DeliveryContent = "delivery content"
	// ProxyAccept and ProxyReject: a before-queue content filter
	// (smtpd_proxy_filter) answered the end of a message, accepting or
	// refusing it. Attributes as Reject's, Stage "END-OF-MESSAGE" and
	// Reply the filter's reply. Postfix smtpd: "proxy-accept:
	// END-OF-MESSAGE: 250 2.0.0 Ok: queued as ID; from=<s> to=<r>
	// proto=ESMTP helo=<h>" (no queue ID, no client).
	ProxyAccept = "proxy-accept"
	ProxyReject = "proxy-reject"
	// MilterReject, MilterHold and MilterDiscard: a milter refused a
	// command or the message, held it or discarded it (relay/milter).
	// Attributes as Reject's; Stage "END-OF-MESSAGE" is the message,
	// logged by Postfix's cleanup: "QUEUEID: milter-reject:
	// END-OF-MESSAGE from host[addr]: 5.7.1 Command rejected;
	// from=<s> to=<r> proto=ESMTP helo=<h>".
	MilterReject  = "milter-reject"
	MilterHold    = "milter-hold"
	MilterDiscard = "milter-discard"
	// Client: the first recipient of a transaction was accepted and the
	// message has its queue ID. Attributes: QueueID, Client. Postfix
	// smtpd: "QUEUEID: client=host[addr]"; without QueueID (the message
	// goes to a before-queue filter) "NOQUEUE: client=host[addr]".
	Client = "client"
	// MessageID: the header of a message being received has ended.
	// Attributes: QueueID, MessageID (the first Message-ID header's value,
	// "" when there is none). Postfix cleanup: "QUEUEID:
	// message-id=<...>" (or "message-id=<>").
	MessageID = "message-id"
	// Queued: a message was stored and answered 250. Attributes:
	// QueueID, Client, From, Size, Nrcpt. Postfix writes no line for it
	// (its fields are in the other lines), and neither does Handler.
	Queued = "queued"
	// Active: a delivery worker claimed the message. Attributes:
	// QueueID, From, Size, Nrcpt. Postfix qmgr: "QUEUEID: from=<s@y>,
	// size=N, nrcpt=N (queue active)".
	Active = "active"
	// Delivery: the outcome of a delivery attempt for one recipient, or
	// of its queue lifetime (Status "expired": Postfix writes no line per
	// recipient for it, only Expired's, and neither does Handler).
	// Attributes: QueueID, To, OrigTo (when it differs), Relay, Delay,
	// Delays, DSN, Status, Reason, Transport. Postfix smtp (the program
	// follows the transport, see Handler):
	// "QUEUEID: to=<u@x>, relay=host[addr]:25, delay=0.5,
	// delays=0.1/0/0.2/0.2, dsn=2.0.0, status=sent (250 ...)".
	Delivery = "delivery"
	// Expired: a message's queue lifetime ran out. Attributes: QueueID,
	// From. Postfix qmgr: "QUEUEID: from=<s@y>, status=expired, returned
	// to sender".
	Expired = "expired"
	// Notification: a delivery status notification was queued.
	// Attributes: QueueID, Kind ("failure", "delay", "success"),
	// NotificationID. Postfix bounce: "QUEUEID: sender non-delivery
	// notification: NEWID".
	Notification = "sender notification"
	// Removed: a message left the queue. Attributes: QueueID. Postfix
	// qmgr: "QUEUEID: removed".
	Removed = "removed"
	// LostConnection, Timeout and TooManyErrors end a session early.
	// Attributes: Client, After (the last command). Postfix smtpd: "lost
	// connection after DATA from host[addr]", "timeout after RCPT from
	// host[addr]", "too many errors after RCPT from host[addr]".
	LostConnection = "lost connection"
	// NonSMTPCommand: a client sent a command of another protocol (an
	// HTTP request, a message header) and was disconnected. Attributes:
	// Client, Command (cut at 100 bytes). Postfix smtpd: "warning:
	// non-SMTP command from host[addr]: GET / HTTP/1.1".
	NonSMTPCommand = "non-SMTP command"
	Timeout        = "timeout"
	TooManyErrors  = "too many errors"
)

// Attribute keys of the events.
const (
	KeyQueueID        = "queue_id"
	KeyClient         = "client"
	KeyOrigQueueID    = "orig_queue_id" // Client: the XFORWARD IDENT
	KeyOrigClient     = "orig_client"   // Client: the XFORWARD client
	KeyCommands       = "commands"
	KeyStage          = "stage"
	KeyReply          = "reply"
	KeyFrom           = "from"
	KeyTo             = "to"
	KeyOrigTo         = "orig_to"
	KeyProto          = "proto"
	KeyHelo           = "helo"
	KeyErr            = "err"
	KeyMessageID      = "message_id"
	KeyResent         = "resent" // MessageID: a Resent-Message-Id (bool)
	KeySize           = "size"
	KeyNrcpt          = "nrcpt"
	KeyRelay          = "relay"
	KeyDelay          = "delay"
	KeyDelays         = "delays"
	KeyDSN            = "dsn"
	KeyStatus         = "status"
	KeyReason         = "reason"
	KeyTransport      = "transport"
	KeyKind           = "kind"
	KeyNotificationID = "dsn_queue_id"
	KeyAfter          = "after"
	KeyCommand        = "command"
	KeyContext        = "context"
	KeyText           = "text"
)
