package queue

// Waker is implemented by a backend that several processes share
// (package postgres): Wakeups delivers a value when mail may have become
// claimable through another process (stored, flushed, released, or
// given back when its claimer died), so that Next claims at once instead
// of at its next Config.Poll, which remains the fallback. Wakeups returns
// the same channel every time; a nil channel never wakes.
type Waker interface {
	Wakeups() <-chan struct{}
}

// wakeups is the backend's Wakeups channel, or nil.
func wakeups(q Queue) <-chan struct{} {
	if w, ok := q.(Waker); ok {
		return w.Wakeups()
	}
	return nil
}
