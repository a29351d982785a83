package bench

import (
	"time"

	"claimline/internal/proccpu"
)

// cpuMeter measures the process's CPU time over one phase of a run.
type cpuMeter struct {
	start time.Duration
	ok    bool
}

func startCPU() cpuMeter {
	d, ok := proccpu.Used()
	return cpuMeter{start: d, ok: ok}
}

// used is the CPU time since startCPU; 0 when it cannot be read.
func (m cpuMeter) used() time.Duration {
	now, ok := proccpu.Used()
	if !m.ok || !ok {
		return 0
	}
	return now - m.start
}
