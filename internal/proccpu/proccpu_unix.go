//go:build unix

// Package proccpu reads the CPU time the process has used, for the load tool and benchmarks: CPU per
// unit of work moves less than wall time on a shared machine.
package proccpu

import (
	"syscall"
	"time"
)

// Used is the user and system CPU time this process has used so far; false where it cannot be read.
func Used() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
