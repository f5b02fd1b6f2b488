package local

import "golang.org/x/sys/unix"

// threadCPU returns the CPU time the calling OS thread has used, so that a
// benchmark on a busy machine measures work rather than waiting. The
// caller must hold runtime.LockOSThread.
func threadCPU() (int64, bool) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0, false
	}
	return ts.Nano(), true
}
