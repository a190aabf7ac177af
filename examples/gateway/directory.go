package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/mxrelay/mxrelay/lookup"
)

// Directory is a recipient list kept by an HTTP service: a lookup.Table
// that asks
//
//	GET URL?address=KEY
//
// and reads the JSON answer {"exists": true} or {"exists": false}. A 404
// is "does not exist" too. Used as relay_recipient_maps, the keys are what
// Postfix looks up there (mail_addr_find.c): the address as received
// ("alice+news@example.com"), without the extension ("alice@example.com"),
// then the domain catch-all ("@example.com"). Keys are folded to lower
// case (lookup.FoldKey) before they are sent, as Postfix folds the keys of
// its tables: "Alice@Example.COM" is asked as "alice@example.com".
//
// Any other outcome (the service cannot be reached, does not answer
// within Timeout, answers another status, or a body that is not that
// JSON) is a lookup.Error of kind lookup.Temporary: policy answers "451
// 4.3.0 Temporary lookup failure" and the sender retries later. A
// directory outage never turns into a 5xx that would bounce good mail.
type Directory struct {
	// URL is the endpoint, "http://directory.internal/recipients".
	URL string
	// Client makes the requests. Nil: http.DefaultClient.
	Client *http.Client
	// Timeout bounds one lookup. Default 5s: well under the SMTP
	// client's RCPT timeout (5 minutes, RFC 5321 section 4.5.3.2.3).
	Timeout time.Duration
	// MaxBody caps the answer read. Default 64 KiB.
	MaxBody int64
}

// directoryAnswer is the JSON the service sends.
type directoryAnswer struct {
	Exists *bool `json:"exists"`
}

// Lookup implements lookup.Table. The value of a recipient that exists is
// "OK", as a relay_recipients file would say.
func (d *Directory) Lookup(ctx context.Context, key string) (string, bool, error) {
	exists, err := d.exists(ctx, key)
	if err != nil {
		return "", false, &lookup.Error{Table: d.String(), Key: key, Kind: lookup.Temporary, Err: err}
	}
	if !exists {
		return "", false, nil
	}
	return "OK", true, nil
}

// String names the table in logs and policy reasons.
func (d *Directory) String() string { return "http:" + d.URL }

func (d *Directory) exists(ctx context.Context, key string) (bool, error) {
	timeout := d.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	max := d.MaxBody
	if max <= 0 {
		max = 64 << 10
	}
	client := d.Client
	if client == nil {
		client = http.DefaultClient
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	u, err := url.Parse(d.URL)
	if err != nil {
		return false, err
	}
	q := u.Query()
	q.Set("address", lookup.FoldKey(key))
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return false, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return false, err // connection refused, timeout, TLS...
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		return false, nil
	default:
		return false, fmt.Errorf("directory answered %s", resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	if err != nil {
		return false, err
	}
	if int64(len(body)) > max {
		return false, fmt.Errorf("directory answer longer than %d bytes", max)
	}
	return parseAnswer(body)
}

// parseAnswer reads the directory's JSON answer, {"exists": BOOL}; other
// fields are ignored.
func parseAnswer(body []byte) (bool, error) {
	var a directoryAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		return false, fmt.Errorf("directory answer: %w", err)
	}
	if a.Exists == nil {
		return false, errors.New(`directory answer has no "exists" field`)
	}
	return *a.Exists, nil
}
