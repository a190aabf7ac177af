package queue

import (
	"container/heap"
	"errors"
	"time"
)

// index is the due schedule shared by Memory and Spool: one heap ordered by
// the time each message becomes claimable. Held messages are out of it.
// The caller serializes access.
type index struct {
	items  map[ID]*item
	heap   itemHeap
	token  uint64
	parked []parkEntry // parked items in parking order (may hold stale entries)
}

// parkEntry records that an item was parked at a time (Unix ns).
type parkEntry struct {
	it *item
	at int64
}

// item is what the schedule keeps per message (about 100 bytes, plus the
// ID's bytes and the map entry).
type item struct {
	id      ID
	next    int64 // NextAttempt, Unix ns
	arrival int64
	until   int64 // lease end, Unix ns; 0 when not leased
	token   uint64
	pos     int32 // heap position, -1 when held
	held    bool
	busy    bool      // Spool: a Modify or Remove is under way; Claim skips it
	env     bool      // Spool: msg/<ID>.env exists
	seg     uint64    // Spool: segment holding the data; 0 for msg/<ID>
	end     int64     // Spool: offset of the end of the message's entry in its file
	cache   *Envelope // Spool: the current envelope, when cached
	// parkedAt is when a Scheduler's claim refused the item (its
	// destination was at its concurrency limit): it is out of the heap
	// until unparked. Zero when not parked.
	parkedAt int64
}

// key is when the item becomes claimable: its lease end while leased,
// else its NextAttempt.
func (it *item) key() int64 {
	if it.token != 0 && it.until > it.next {
		return it.until
	}
	return it.next
}

type itemHeap []*item

func (h itemHeap) Len() int { return len(h) }
func (h itemHeap) Less(i, j int) bool {
	a, b := h[i], h[j]
	if ka, kb := a.key(), b.key(); ka != kb {
		return ka < kb
	}
	if a.arrival != b.arrival {
		return a.arrival < b.arrival
	}
	return a.id < b.id
}
func (h itemHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].pos, h[j].pos = int32(i), int32(j)
}
func (h *itemHeap) Push(x any) { it := x.(*item); it.pos = int32(len(*h)); *h = append(*h, it) }
func (h *itemHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	it.pos = -1
	return it
}

func newIndex() *index { return &index{items: make(map[ID]*item)} }

// put adds or updates the schedule of e (its NextAttempt, Held, Lease).
func (x *index) put(e *Envelope) {
	it := x.items[e.ID]
	if it == nil {
		it = &item{id: e.ID, pos: -1}
		x.items[e.ID] = it
	}
	it.parkedAt = 0 // its state changed: let Claim look at it again
	it.next = toNanos(e.NextAttempt)
	it.arrival = toNanos(e.Arrival)
	it.held = e.Held
	it.token, it.until = e.Lease.Token, toNanos(e.Lease.Until)
	switch {
	case it.held && it.pos >= 0:
		heap.Remove(&x.heap, int(it.pos))
	case !it.held && it.pos < 0:
		heap.Push(&x.heap, it)
	case !it.held:
		heap.Fix(&x.heap, int(it.pos))
	}
}

// lease returns the lease kept for id (zero when none or unknown).
func (x *index) lease(id ID) Lease {
	it := x.items[id]
	if it == nil || it.token == 0 {
		return Lease{}
	}
	return Lease{Token: it.token, Until: fromNanos(it.until)}
}

func (x *index) remove(id ID) {
	it := x.items[id]
	if it == nil {
		return
	}
	if it.pos >= 0 {
		heap.Remove(&x.heap, int(it.pos))
	}
	it.parkedAt = 0
	delete(x.items, id)
}

// maxExamine bounds how many due messages one Claim looks at when accept
// keeps refusing them.
const maxExamine = 1024

// parkMax is how long a parked item stays out of the schedule when nothing
// unparks it (a Scheduler that went away, a lost wake-up).
const parkMax = int64(time.Minute)

// errMore is what a parking claim returns when it examined maxExamine
// items, parked them all, and more may be due: call again.
var errMore = errors.New("queue: more due messages to examine")

// claim finds the first due item at now whose envelope (got through load)
// accept takes, leases it and returns its envelope. load returns ok=false
// to skip an item (busy or unreadable). With park, the items accept
// refuses are parked (out of the heap until unpark, a change of the
// message, or parkMax), so that later claims go past them: the Scheduler
// uses it to keep mail for saturated destinations from blocking the rest.
func (x *index) claim(now time.Time, lease time.Duration, accept func(*Envelope) bool,
	load func(id ID) (*Envelope, bool), park bool) (Envelope, error) {
	n := now.UnixNano()
	x.unparkOld(n)
	var skipped []*item
	defer func() {
		for _, it := range skipped {
			heap.Push(&x.heap, it)
		}
	}()
	examined := 0
	for len(x.heap) > 0 && examined < maxExamine {
		it := x.heap[0]
		if it.key() > n {
			break
		}
		examined++
		e, ok := load(it.id)
		if !ok {
			skipped = append(skipped, heap.Pop(&x.heap).(*item))
			continue
		}
		e.Lease = x.lease(it.id)
		if accept != nil && !accept(e) {
			heap.Pop(&x.heap)
			if park {
				it.parkedAt = n
				x.parked = append(x.parked, parkEntry{it, n})
			} else {
				skipped = append(skipped, it)
			}
			continue
		}
		x.token++
		it.token, it.until = x.token, n+int64(lease)
		heap.Fix(&x.heap, int(it.pos))
		e.Lease = Lease{Token: it.token, Until: fromNanos(it.until)}
		return *e, nil
	}
	if park && examined == maxExamine && len(x.heap) > 0 && x.heap[0].key() <= n {
		return Envelope{}, errMore
	}
	return Envelope{}, ErrEmpty
}

// unpark puts parked items back into the schedule.
func (x *index) unpark(ids []ID) {
	for _, id := range ids {
		if it := x.items[id]; it != nil && it.parkedAt != 0 {
			x.unparkItem(it)
		}
	}
}

func (x *index) unparkItem(it *item) {
	it.parkedAt = 0
	if !it.held && it.pos < 0 {
		heap.Push(&x.heap, it)
	}
}

// unparkOld unparks the items parked for parkMax or longer at n, and
// drops stale entries from the front of the parking list.
func (x *index) unparkOld(n int64) {
	for len(x.parked) > 0 {
		p := x.parked[0]
		switch {
		case p.it.parkedAt != p.at || x.items[p.it.id] != p.it: // unparked, parked again later, or removed
		case p.at <= n-parkMax:
			x.unparkItem(p.it)
		default:
			return
		}
		x.parked[0] = parkEntry{}
		x.parked = x.parked[1:]
	}
}
