package control

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
)

// MaxResponseLine caps a reply line a Client reads: a list of every
// queued message of a large queue fits.
const MaxResponseLine = 256 << 20

// Client sends Requests to a Server.
type Client struct {
	dial func(ctx context.Context) (net.Conn, error)
}

// Dial returns a Client of the server listening on the UNIX-domain
// socket at path. Nothing is connected until Do.
func Dial(path string) *Client {
	return &Client{dial: func(ctx context.Context) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", path)
	}}
}

// Local returns a Client that runs requests on s in process, for a tool
// that opened the queue itself because no relay runs.
func Local(s *Server) *Client {
	return &Client{dial: func(ctx context.Context) (net.Conn, error) {
		a, b := net.Pipe()
		go s.ServeConn(ctx, b)
		return a, nil
	}}
}

// Do sends req and returns the reply. A reply with Error set is returned
// as an error too. For OpShow, use Show.
func (c *Client) Do(ctx context.Context, req Request) (Response, error) {
	resp, conn, err := c.roundTrip(ctx, req)
	if conn != nil {
		conn.Close()
	}
	return resp, err
}

// Show returns one message's description and writes its content to w
// (postcat -q).
func (c *Client) Show(ctx context.Context, id string, w io.Writer) (Message, error) {
	resp, conn, err := c.roundTrip(ctx, Request{Op: OpShow, IDs: []string{id}})
	if conn == nil || err != nil {
		if conn != nil {
			conn.Close()
		}
		return Message{}, err
	}
	defer conn.Close()
	if len(resp.Messages) != 1 {
		return Message{}, errors.New("control: malformed show reply")
	}
	if _, err := io.Copy(w, io.LimitReader(conn.r, resp.BodySize)); err != nil {
		return resp.Messages[0], fmt.Errorf("control: reading the message: %w", err)
	}
	return resp.Messages[0], nil
}

type reply struct {
	net.Conn
	r *bufio.Reader
}

// roundTrip sends req and reads the reply line; the connection stays
// open for what follows it.
func (c *Client) roundTrip(ctx context.Context, req Request) (Response, *reply, error) {
	conn, err := c.dial(ctx)
	if err != nil {
		return Response{}, nil, err
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	line, _ := json.Marshal(req)
	if _, err := conn.Write(append(line, '\n')); err != nil {
		conn.Close()
		return Response{}, nil, fmt.Errorf("control: sending the request: %w", err)
	}
	r := bufio.NewReader(conn)
	b, err := readLine(r, MaxResponseLine)
	if err != nil {
		conn.Close()
		return Response{}, nil, fmt.Errorf("control: reading the reply: %w", err)
	}
	var resp Response
	if err := json.Unmarshal(b, &resp); err != nil {
		conn.Close()
		return Response{}, nil, fmt.Errorf("control: malformed reply: %w", err)
	}
	rp := &reply{Conn: conn, r: r}
	if resp.Error != "" {
		return resp, rp, errors.New(resp.Error)
	}
	return resp, rp, nil
}

// readLine reads up to a newline, at most limit bytes.
func readLine(r *bufio.Reader, limit int) ([]byte, error) {
	var line []byte
	for {
		frag, err := r.ReadSlice('\n')
		line = append(line, frag...)
		if len(line) > limit {
			return nil, errors.New("reply line too long")
		}
		if err == nil {
			return line, nil
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return nil, err
		}
	}
}
