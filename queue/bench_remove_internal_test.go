package queue

import (
	"context"
	"fmt"
	"testing"
)

// BenchmarkSpoolRemoveShared removes the 20 messages of one segment (what
// a group commit of 20 concurrent Stores writes) one by one, as delivery
// does: 19 removals from a shared segment, then the segment's deletion.
// One op is the 20 removals.
func BenchmarkSpoolRemoveShared(b *testing.B) {
	ctx := context.Background()
	s, err := OpenSpool(ctx, b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ids := make([]ID, 20)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		for j := range ids {
			ids[j] = ID(fmt.Sprintf("M%d-%d", i, j))
		}
		storeBatch(b, s, ids...)
		b.StartTimer()
		for _, id := range ids {
			if err := s.Remove(ctx, id); err != nil {
				b.Fatal(err)
			}
		}
	}
}
