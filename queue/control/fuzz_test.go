package control

import (
	"bytes"
	"testing"
)

// FuzzReadRequest: any bytes from a peer give a request or an error,
// never a panic, and a request read back from its own encoding is the
// same.
func FuzzReadRequest(f *testing.F) {
	f.Add([]byte(`{"op":"list"}` + "\n"))
	f.Add([]byte(`{"op":"hold","ids":["ALL"]}` + "\n"))
	f.Add([]byte(`{"op":"flush","site":"example.com"}` + "\n"))
	f.Add([]byte("{\"op\":\n"))
	f.Add([]byte(`{"op":"show","ids":["A","B"]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := readRequest(bytes.NewReader(b))
		if err != nil {
			return
		}
		again, err := readRequest(bytes.NewReader(append(mustJSON(t, req), '\n')))
		if err != nil || again.Op != req.Op || again.Site != req.Site || len(again.IDs) != len(req.IDs) {
			t.Fatalf("round trip of %+v: %+v, %v", req, again, err)
		}
	})
}
