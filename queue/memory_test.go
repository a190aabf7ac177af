package queue_test

import (
	"testing"

	"github.com/mxrelay/mxrelay/queue"
	"github.com/mxrelay/mxrelay/queue/queuetest"
)

func TestMemoryConformance(t *testing.T) {
	queuetest.Run(t, queuetest.Options{
		New: func(*testing.T) queue.Queue { return queue.NewMemory() },
	})
}
