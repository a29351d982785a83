//go:build !unix

// Package proccpu reads the CPU time the process has used, for the load tool and benchmarks: CPU per
// unit of work moves less than wall time on a shared machine.
package proccpu

import "time"

// Used cannot read the CPU time on this system.
func Used() (time.Duration, bool) { return 0, false }
