package main

import (
	"encoding/json"
	"fmt"
	"testing"
)

// FuzzParseAnswer: an answer is accepted only when it is a JSON object
// whose "exists" is a boolean, and then says exactly what that boolean
// says; anything else is an error (a temporary lookup failure), never a
// silent "does not exist".
func FuzzParseAnswer(f *testing.F) {
	for _, s := range []string{
		`{"exists": true}`, `{"exists": false}`, `{"exists": null}`, `{"exists": "yes"}`, `{"found": true}`,
		`{"exists": true, "exists": false}`, `{"EXISTS": true}`, `[true]`, `true`, ``, `<html>`,
		`{"exists": true} trailing`, `{"exists": true, "name": "Alice"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		exists, err := parseAnswer(body)
		var ref map[string]any
		refErr := json.Unmarshal(body, &ref)
		if err != nil {
			if exists {
				t.Fatalf("%q: error %v with exists = true", body, err)
			}
			return
		}
		if refErr != nil || !json.Valid(body) {
			t.Fatalf("%q accepted but is not a JSON object", body)
		}
		// Where the answer is plainly {"exists": V}, V decides.
		if v, ok := ref["exists"]; ok && len(ref) == 1 {
			if b, isBool := v.(bool); !isBool || b != exists {
				t.Fatalf("%q: exists = %v", body, exists)
			}
		}
		// What we would send back reads back the same.
		again, err := parseAnswer(fmt.Appendf(nil, `{"exists": %t}`, exists))
		if err != nil || again != exists {
			t.Fatalf("round trip of %v: %v, %v", exists, again, err)
		}
	})
}

// An answer whose "exists" is not a boolean is an error, never a "no".
func TestParseAnswerNotBool(t *testing.T) {
	for _, body := range []string{`{"exists": null}`, `{"exists": "false"}`, `{"exists": 0}`, `{}`, `null`, `[]`} {
		if exists, err := parseAnswer([]byte(body)); err == nil {
			t.Errorf("%s: accepted as exists=%v", body, exists)
		}
	}
}
