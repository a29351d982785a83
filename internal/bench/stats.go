package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// maxSamples bounds the latencies one recorder keeps (a long run keeps the first ones).
const maxSamples = 4 << 20

// recorder collects reply latencies and counts, shared by every client of a run.
type recorder struct {
	mu      sync.Mutex
	samples []time.Duration
	turns   atomic.Int64
	claims  atomic.Int64
	errors  atomic.Int64
	first   []string // the first few error messages, for the report
	kinds   map[string]int
}

func newRecorder() *recorder { return &recorder{kinds: map[string]int{}} }

// local is one client's buffer, merged into the recorder when the client ends, so the hot loop takes
// no lock.
type local struct {
	r       *recorder
	samples []time.Duration
}

func (r *recorder) local() *local { return &local{r: r, samples: make([]time.Duration, 0, 256)} }

func (l *local) turn(d time.Duration) {
	l.r.turns.Add(1)
	l.samples = append(l.samples, d)
	if len(l.samples) >= 4096 {
		l.flush()
	}
}

func (l *local) flush() {
	l.r.mu.Lock()
	room := maxSamples - len(l.r.samples)
	if room > len(l.samples) {
		room = len(l.samples)
	}
	if room > 0 {
		l.r.samples = append(l.r.samples, l.samples[:room]...)
	}
	l.r.mu.Unlock()
	l.samples = l.samples[:0]
}

func (r *recorder) fail(kind string, err error) {
	r.errors.Add(1)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.kinds[kind]++
	if len(r.first) < 5 {
		r.first = append(r.first, fmt.Sprintf("%s: %v", kind, err))
	}
}

// Percentiles of reply latency.
type Percentiles struct {
	N                  int
	P50, P90, P99, Max time.Duration
}

func (r *recorder) percentiles() Percentiles {
	r.mu.Lock()
	defer r.mu.Unlock()
	return percentiles(r.samples)
}

func percentiles(s []time.Duration) Percentiles {
	if len(s) == 0 {
		return Percentiles{}
	}
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	at := func(q float64) time.Duration {
		i := int(q*float64(len(s))+0.5) - 1
		if i < 0 {
			i = 0
		}
		if i >= len(s) {
			i = len(s) - 1
		}
		return s[i]
	}
	return Percentiles{N: len(s), P50: at(0.50), P90: at(0.90), P99: at(0.99), Max: s[len(s)-1]}
}

func (p Percentiles) String() string {
	return fmt.Sprintf("p50 %s  p90 %s  p99 %s  max %s  (%d replies)", round(p.P50), round(p.P90), round(p.P99), round(p.Max), p.N)
}

func round(d time.Duration) string {
	switch {
	case d >= 100*time.Millisecond:
		return d.Round(time.Millisecond).String()
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond).String()
	default:
		return d.Round(time.Microsecond).String()
	}
}

func (r *recorder) errorSummary() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.kinds) == 0 {
		return "0"
	}
	kinds := make([]string, 0, len(r.kinds))
	for k, n := range r.kinds {
		kinds = append(kinds, fmt.Sprintf("%s %d", k, n))
	}
	sort.Strings(kinds)
	return fmt.Sprintf("%d (%s)", r.errors.Load(), strings.Join(kinds, ", "))
}

// memory is a reading of the server's memory.
type memory struct {
	HeapInuse  uint64 // bytes in in-use heap spans
	StackInuse uint64 // bytes of goroutine stacks
	RSS        uint64 // resident set size of the process, 0 when unknown
	Goroutines int64
	Source     string // "runtime (in-process, after GC)" or "/metrics"
}

func (m memory) String() string {
	s := fmt.Sprintf("heap in use %s, stacks %s, goroutines %d", mib(m.HeapInuse), mib(m.StackInuse), m.Goroutines)
	if m.RSS > 0 {
		s += ", RSS " + mib(m.RSS)
	}
	return s + " [" + m.Source + "]"
}

func mib(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// readMemory reads the in-process runtime after a full GC, or the target's /metrics.
func (t *target) readMemory(ctx context.Context) (memory, error) {
	if t.inProcess {
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return memory{HeapInuse: ms.HeapInuse, StackInuse: ms.StackInuse, RSS: selfRSS(),
			Goroutines: int64(runtime.NumGoroutine()), Source: "runtime.MemStats in-process after GC; includes the load client"}, nil
	}
	return scrapeMemory(ctx, t.URL+"/metrics")
}

func scrapeMemory(ctx context.Context, url string) (memory, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return memory{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return memory{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return memory{}, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	m := memory{Source: "server /metrics (no forced GC)"}
	vals := parseMetrics(resp.Body, "go_memstats_heap_inuse_bytes", "go_memstats_stack_inuse_bytes", "process_resident_memory_bytes", "go_goroutines")
	m.HeapInuse = uint64(vals["go_memstats_heap_inuse_bytes"])
	m.StackInuse = uint64(vals["go_memstats_stack_inuse_bytes"])
	m.RSS = uint64(vals["process_resident_memory_bytes"])
	m.Goroutines = int64(vals["go_goroutines"])
	if _, ok := vals["go_memstats_heap_inuse_bytes"]; !ok {
		return m, fmt.Errorf("/metrics has no go_memstats_heap_inuse_bytes")
	}
	return m, nil
}

// parseMetrics reads unlabelled samples of the named metrics from the Prometheus text format.
func parseMetrics(r io.Reader, names ...string) map[string]float64 {
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for lines := 0; sc.Scan() && lines < 100000; lines++ {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || !want[f[0]] {
			continue
		}
		if v, err := strconv.ParseFloat(f[1], 64); err == nil {
			out[f[0]] = v
		}
	}
	return out
}

// selfRSS reads VmRSS of this process (Linux); 0 elsewhere.
func selfRSS() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) >= 1 {
				kb, _ := strconv.ParseUint(f[0], 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}

func rate(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}
