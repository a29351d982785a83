//go:build unix

package bench

import "syscall"

// raiseFileLimit raises the soft RLIMIT_NOFILE towards need (never above the hard limit) and returns
// the soft limit in force.
func raiseFileLimit(need uint64) (uint64, error) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, err
	}
	if l.Cur >= need {
		return l.Cur, nil
	}
	want := min(need, l.Max)
	if want > l.Cur {
		nl := syscall.Rlimit{Cur: want, Max: l.Max}
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &nl); err != nil {
			return l.Cur, err
		}
		l.Cur = want
	}
	return l.Cur, nil
}
