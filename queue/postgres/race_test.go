//go:build race

package postgres_test

// raceEnabled: under the race detector the contention test claims fewer
// messages (.ci/run runs it with 10,000 without -race as well).
const raceEnabled = true
