// Package benchutil holds what the benchmarks of several packages measure
// with: the process's CPU time, which a shared machine's load barely moves
// (docs/performance.md reports CPU per item next to every rate), and a CPU
// profile of a benchmark's timed part alone.
package benchutil

import (
	"os"
	"runtime/pprof"
	"syscall"
	"testing"
	"time"
)

// CPUTime is the CPU time this process has used so far: user and system,
// every goroutine (in-process servers included).
func CPUTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// ProfileTimed starts a CPU profile into the file LIUHEN_BENCH_CPUPROFILE
// names, if it is set, and returns the function that stops it: unlike go
// test's -cpuprofile, it covers only what runs between the two (the timed
// part), not the setup before it.
func ProfileTimed(tb testing.TB) (stop func()) {
	path := os.Getenv("LIUHEN_BENCH_CPUPROFILE")
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		tb.Fatal(err)
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			tb.Error(err)
		}
	}
}
