package daemon

import (
	"errors"
	"os"
	"runtime"
	"runtime/pprof"
)

// startProfiles writes a CPU profile to cpu and, at stop, a mutex
// contention profile to mutex (each when not empty), covering the run
// until stop is called.
func startProfiles(cpu, mutex string) (stop func() error, err error) {
	var f *os.File
	if cpu != "" {
		if f, err = os.Create(cpu); err != nil {
			return nil, err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return nil, err
		}
	}
	if mutex != "" {
		runtime.SetMutexProfileFraction(5)
	}
	return func() error {
		var err error
		if f != nil {
			pprof.StopCPUProfile()
			err = f.Close()
		}
		if mutex != "" {
			m, cerr := os.Create(mutex)
			if cerr != nil {
				return errors.Join(err, cerr)
			}
			err = errors.Join(err, pprof.Lookup("mutex").WriteTo(m, 0), m.Close())
		}
		return err
	}, nil
}
