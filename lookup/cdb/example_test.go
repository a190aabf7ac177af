package cdb_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/mxrelay/mxrelay/lookup/cdb"
)

// Build a database the way `postmap cdb:` would (keys already folded,
// duplicates already dropped by the caller), then query and list it.
func Example() {
	dir, err := os.MkdirTemp("", "cdb-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "transport.cdb")

	err = cdb.WriteFile(path, 0o644, func(add func(key, value []byte) error) error {
		for _, kv := range [][2]string{
			{"foo@example.com", "Value1"},
			{"b", "2"},
			{"example.com", "OK"},
		} {
			if err := add([]byte(kv[0]), []byte(kv[1])); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}

	r, err := cdb.Open(path)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("size:", r.Size(), "records:", r.Len())
	fmt.Printf("hash: %08x\n", cdb.Hash([]byte("foo@example.com")))
	for _, key := range []string{"foo@example.com", "nobody@example.com"} {
		value, found, err := r.Find(key)
		fmt.Printf("%s: %q %v %v\n", key, value, found, err)
	}
	for k, v := range r.All() {
		fmt.Printf("%s -> %s\n", k, v)
	}
	// Output:
	// size: 2156 records: 3
	// hash: e8730b04
	// foo@example.com: "Value1" true <nil>
	// nobody@example.com: "" false <nil>
	// foo@example.com -> Value1
	// b -> 2
	// example.com -> OK
}

// A corrupt file is an error wrapping ErrCorrupt, at open or at lookup.
func ExampleNewReader_corrupt() {
	data := make([]byte, 2048)
	data[0] = 0xff // table 0 claims to start at offset 255, inside the header
	_, err := cdb.NewReader(data)
	fmt.Println(err)
	// Output:
	// cdb: corrupt database: hash table 0 at offset 255 with 0 slots does not lie within the 2048-byte file
}
