package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mxrelay/mxrelay/lookup"
	"github.com/mxrelay/mxrelay/queue"
	"github.com/mxrelay/mxrelay/relay"
	"github.com/mxrelay/mxrelay/relay/maincf"
)

// Config configures a Gateway: an inbound mail gateway that accepts mail
// for Domains, for the recipients a Go table knows, and relays it to an
// internal mail server.
type Config struct {
	// Hostname is $myhostname: in the greeting, Received: headers and
	// DSNs. Default: this machine's name.
	Hostname string
	// Domains are the domains the gateway accepts mail for, as Postfix's
	// relay_domains ("example.com, example.org"; subdomains match too).
	// Required.
	Domains string
	// Recipients says which recipients of Domains exist, as Postfix's
	// relay_recipient_maps: any lookup.Table (a Directory, a SQL query in
	// a lookup.TableFunc, a lookup.Map). Required: a gateway that accepts
	// every localpart must bounce the unknown ones later, to forged
	// senders (backscatter). A lookup error defers the recipient (451).
	Recipients lookup.Table
	// RecipientDelimiter is recipient_delimiter: with "+",
	// alice+news@example.com is looked up as itself, then as
	// alice@example.com. Default none.
	RecipientDelimiter string
	// NextHop is where accepted mail goes, in Postfix's nexthop syntax:
	// "[192.0.2.25]:25" (no MX lookup), "mail.internal.example" (MX
	// lookup). Required.
	NextHop string
	// MyNetworks are the clients that may relay to any domain through the
	// gateway, as Postfix's mynetworks. Default none.
	MyNetworks string
	// Queue stores accepted mail until the next hop has it: a
	// *queue.Spool, or a *queue.Memory in tests. Required.
	Queue queue.Queue
	// DNS are "host:port" resolvers. Default: /etc/resolv.conf's.
	DNS []string
	// Timeout bounds each SMTP command read and reply write. Default 300s,
	// as Postfix smtpd_timeout.
	Timeout time.Duration
	// Logger receives the relay's log. Nil discards.
	Logger *slog.Logger
	// Observer receives the relay's events (accepted messages, rejected
	// commands, delivery attempts). Nil: none.
	Observer relay.Observer
}

// recipientsSpec is the name the Recipients table has in the relay's
// configuration (and in policy's Reason.Table).
const recipientsSpec = "gateway:recipients"

// Gateway is a running gateway: the relay's backend mounted in the
// gateway's own go-smtp server, and the relay's delivery loop.
type Gateway struct {
	srv       *smtp.Server
	loaded    *relay.Loaded
	addr      net.Addr
	served    chan error
	stopRun   context.CancelFunc
	runDone   chan error
	hostname  string
	mainCFTxt []string
	conns     *trackingListener
}

// Start starts a gateway serving SMTP on l. Shutdown stops it. When Start
// fails, l is left open for the caller to close.
func Start(ctx context.Context, c Config, l net.Listener) (*Gateway, error) {
	switch {
	case c.Domains == "":
		return nil, errors.New("gateway: Config.Domains is required")
	case c.Recipients == nil:
		return nil, errors.New("gateway: Config.Recipients is required")
	case c.NextHop == "":
		return nil, errors.New("gateway: Config.NextHop is required")
	case c.Queue == nil:
		return nil, errors.New("gateway: Config.Queue is required")
	}

	// The relay's configuration, in the words of a Postfix main.cf.
	cf := &maincf.File{Name: "gateway"}
	params := [][2]string{
		{"compatibility_level", "3.6"},
		{"mydestination", ""},
		{"mynetworks", c.MyNetworks},
		{"relay_domains", c.Domains},
		{"relay_recipient_maps", recipientsSpec},
		{"recipient_delimiter", c.RecipientDelimiter},
		{"relay_transport", "relay:" + c.NextHop},
		{"smtpd_relay_restrictions", "permit_mynetworks, reject_unauth_destination"},
	}
	if c.Hostname != "" {
		params = append(params, [2]string{"myhostname", c.Hostname})
	}
	g := &Gateway{}
	for _, p := range params {
		cf.Set(p[0], p[1])
		g.mainCFTxt = append(g.mainCFTxt, p[0]+" = "+p[1])
	}
	var listen []netip.Addr
	if ap, err := netip.ParseAddrPort(l.Addr().String()); err == nil {
		listen = append(listen, ap.Addr())
	}
	ld, err := relay.Load(ctx, cf, relay.LoadOptions{
		Queue:    c.Queue,
		Listen:   listen,
		DNS:      c.DNS,
		Tables:   map[string]lookup.Table{recipientsSpec: c.Recipients},
		Logger:   c.Logger,
		Observer: c.Observer,
	})
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	for _, w := range ld.Warnings {
		if c.Logger != nil {
			c.Logger.Warn("configuration", "warning", w)
		}
	}

	// The relay is a go-smtp Backend: mount it in our own server.
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 300 * time.Second
	}
	// Our own Backend wraps the relay's to know which connection is
	// receiving a message (see conns.go): Shutdown closes the others at
	// once and that one after its reply.
	g.conns = newTrackingListener(l)
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		s, err := ld.MX.NewSession(c)
		if err != nil {
			return nil, err
		}
		tc, _ := c.Conn().(*trackedConn)
		return &trackedSession{Session: s, c: tc}, nil
	}))
	srv.Domain = ld.MX.Hostname()
	srv.MaxMessageBytes = ld.MX.MessageSizeLimit() // advertised as SIZE
	srv.MaxLineLength = 64 << 10
	srv.ReadTimeout = timeout
	srv.WriteTimeout = timeout
	srv.EnableSMTPUTF8 = true
	srv.EnableDSN = true
	srv.ErrorLog = log.New(io.Discard, "", 0)

	runCtx, stopRun := context.WithCancel(context.WithoutCancel(ctx))
	g.srv, g.loaded, g.addr, g.hostname = srv, ld, l.Addr(), ld.MX.Hostname()
	g.served, g.stopRun, g.runDone = make(chan error, 1), stopRun, make(chan error, 1)
	go func() { g.runDone <- ld.MX.Run(runCtx) }()
	go func() { g.served <- srv.Serve(g.conns) }()
	return g, nil
}

// Addr returns the SMTP listening address.
func (g *Gateway) Addr() net.Addr { return g.addr }

// Hostname returns $myhostname as the gateway uses it.
func (g *Gateway) Hostname() string { return g.hostname }

// MainCF returns the relay configuration the gateway runs, as main.cf
// lines, for the banner and the log.
func (g *Gateway) MainCF() []string { return g.mainCFTxt }

// Shutdown stops accepting connections, closes the idle sessions with
// "421 4.3.2 Service shutting down", lets a message being received finish
// and be answered, then stops the delivery loop and releases the relay.
// Mail not yet delivered stays in the queue. When ctx ends first, the
// remaining connections are cut and ctx's error is returned.
func (g *Gateway) Shutdown(ctx context.Context) error {
	g.conns.shutdown()
	err := g.srv.Shutdown(ctx)
	if err != nil {
		// go-smtp's Close does nothing after Shutdown: cut the
		// remaining sessions ourselves. Their clients get no reply to
		// what they sent last and send it again; nothing they did not
		// see accepted was queued.
		g.conns.closeAll()
	}
	if serr := <-g.served; serr != nil && !errors.Is(serr, smtp.ErrServerClosed) && err == nil {
		err = serr
	}
	g.stopRun()
	if rerr := <-g.runDone; rerr != nil && !errors.Is(rerr, context.Canceled) && err == nil {
		err = rerr
	}
	if cerr := g.loaded.Close(); cerr != nil && err == nil {
		err = cerr
	}
	return err
}
