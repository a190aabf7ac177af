package testenv

import (
	"errors"
	"os/exec"
	"strings"
	"testing"
)

// Answer is what a table says for one key: a value, a miss, or a failed
// lookup. Differential tests compare postmap -q's Answer with ours.
type Answer struct {
	Value  string
	Found  bool
	Failed bool
}

// PostmapQuery runs "postmap -q key spec" with env (PostfixEnv) and reads
// its answer: exit 0 and the value; exit 1 with nothing on stdout and no
// "fatal" or "error" on stderr, a miss; anything else, a failed lookup.
func PostmapQuery(t testing.TB, postmap string, env []string, spec, key string) Answer {
	t.Helper()
	cmd := exec.Command(postmap, "-q", key, spec)
	cmd.Env = env
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return Answer{Value: strings.TrimSuffix(string(out), "\n"), Found: true}
	case errors.As(err, &ee) && ee.ExitCode() == 1 && len(out) == 0 &&
		!strings.Contains(stderr.String(), "fatal") && !strings.Contains(stderr.String(), "error"):
		return Answer{}
	}
	return Answer{Failed: true}
}
