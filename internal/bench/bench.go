// Package bench is claimline's load tool ("claimline bench"): simulated customers over the real
// channels, against a claimline started in-process on a temporary data directory or a running one
// (--url, loopback only). Every loop is bounded in count and time and stops by itself.
//
// Modes:
//
//	claim   N web chat customers over websockets, each filing whole claims (identity check, every
//	        field, confirm), compared with a bare gorilla/websocket echo server driven the same way
//	idle    N idle web chat connections (hello, welcome, greeting, then nothing): memory per connection
//	rest    the REST channel, the same claim script
//	steady  C web chat conversations each sending one message per second: reply latency
//	nlu     the built-in parser on the script's messages: parse time percentiles (median)
//
//	twilio    N clients posting signed inbound SMS webhooks: intake requests/s (target >= 5,000)
//	telegram  N clients posting Telegram webhook updates with the secret token: intake requests/s
package bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"sort"
	"strings"
	"time"

	"claimline/internal/app"
)

// mode is one kind of load. Adding a channel's load is one entry in modes and one run function taking
// the same *env (and a setup when the in-process server needs the channel configured).
type mode struct {
	help string
	// defaults applied when the flag was not given
	clients  int
	duration time.Duration
	// inProcessOnly modes measure the process itself and cannot target --url.
	inProcessOnly bool
	// setup, when set, adds the mode's channel to the in-process server's configuration.
	setup func(cfg *app.Config, publicURL string) (*fakeAPI, error)
	run   func(ctx context.Context, e *env) error
}

var modes = map[string]mode{
	"claim":  {help: "web chat customers filing whole claims over websockets, vs a bare echo server", clients: 50, duration: 10 * time.Second, run: runClaim},
	"idle":   {help: "idle web chat connections: memory per connection", clients: 1000, duration: 5 * time.Second, run: runIdle},
	"rest":   {help: "REST channel customers filing whole claims", clients: 50, duration: 10 * time.Second, run: runREST},
	"steady": {help: "conversations each sending one message per second: reply latency", clients: 1000, duration: 30 * time.Second, run: runSteady},
	"nlu":    {help: "built-in parser on the script's messages: parse time percentiles", clients: 1, duration: 5 * time.Second, inProcessOnly: true, run: runNLU},
	// The webhook modes configure the channel in-process (its secrets and a loopback fake provider
	// API), so they cannot target --url.
	"twilio":   {help: "signed Twilio SMS webhooks (POST /sms/twilio, X-Twilio-Signature): intake requests/s", clients: 64, duration: 10 * time.Second, inProcessOnly: true, setup: setupTwilio, run: runTwilio},
	"telegram": {help: "Telegram webhook updates (POST /telegram/webhook, secret token): intake requests/s", clients: 64, duration: 10 * time.Second, inProcessOnly: true, setup: setupTelegram, run: runTelegram},
}

// options are the parsed flags.
type options struct {
	mode         string
	url          string
	clients      int
	duration     time.Duration
	replyTimeout time.Duration
	rate         float64
	dataDir      string
	echo         bool
	langs        []string
	cpuProfile   string
	memProfile   string
	blockProfile string
	traceFile    string
	quiet        bool
	// scaledOut makes the in-process server a scaled-out gateway node (--redis-url, --casesvc-url).
	scaledOut scaledOut
}

// scaledOut is where an in-process gateway finds its Redis and case service; empty: embedded.
type scaledOut struct {
	redisURL     string
	casesvcURL   string
	casesvcToken string // CLAIMLINE_CASESVC_TOKEN, from the environment only (a secret)
}

// env is what a mode runs with.
type env struct {
	opts   options
	out    io.Writer
	errw   io.Writer
	target *target
	// result is filled by the modes that file claims; the tests read it.
	result *Result
}

// Result is the outcome of a run, for callers and tests (never a speed assertion).
type Result struct {
	Mode    string
	Turns   int64 // turns answered; in the webhook modes, requests answered 200
	Claims  int64
	Errors  int64
	Elapsed time.Duration
	Latency Percentiles
	// EchoRoundTrips and Ratio are set in claim mode when the echo comparison ran.
	EchoRoundTrips int64
	EchoElapsed    time.Duration
	Ratio          float64
	// CPUPerTurn and EchoCPUPerRoundTrip are the process's CPU time per unit of work in claim mode
	// in-process (server and load client; the echo server and the same client).
	CPUPerTurn          time.Duration
	EchoCPUPerRoundTrip time.Duration
	// PerConnBytes and Connections (opened) are set in idle mode.
	PerConnBytes float64
	Connections  int64
	// Requests is set in the webhook modes: every request made (200s, other statuses, failures);
	// CPUPerMessage there is the process's CPU time per inbound message, load and drain together.
	Requests      int64
	CPUPerMessage time.Duration
	FirstErrors   []string
}

// Main runs "claimline bench" with args (without the program and command names).
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	_, err := run(ctx, args, stdout, stderr)
	return err
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) (*Result, error) {
	opts, err := parseFlags(args, stderr)
	if err != nil {
		return nil, err
	}
	m := modes[opts.mode]
	if m.inProcessOnly && opts.url != "" {
		return nil, fmt.Errorf("mode %s runs in-process only; drop --url", opts.mode)
	}
	e := &env{opts: opts, out: stdout, errw: stderr, result: &Result{Mode: opts.mode}}
	if opts.mode != "nlu" {
		t, err := openTarget(ctx, opts, stderr)
		if err != nil {
			return nil, err
		}
		defer t.Close()
		e.target = t
	}
	clients := fmt.Sprintf("%d clients, ", opts.clients)
	if opts.mode == "nlu" {
		clients = ""
	}
	fmt.Fprintf(stdout, "claimline bench --mode %s: %s%s, server %s (GOMAXPROCS=%d, %s %s/%s)\n",
		opts.mode, clients, opts.duration, e.targetName(), runtime.GOMAXPROCS(0), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	// A run never outlives its duration by much: every wait below also has its own deadline.
	ctx, cancel := context.WithTimeout(ctx, opts.duration+2*opts.replyTimeout+2*time.Minute)
	defer cancel()
	if err := m.run(ctx, e); err != nil {
		return e.result, err
	}
	return e.result, nil
}

func (e *env) targetName() string {
	if e.target == nil {
		return "none"
	}
	if e.target.inProcess {
		name := "in-process " + e.target.URL
		// Not the URLs themselves: a Redis URL may carry a password.
		if e.opts.scaledOut.redisURL != "" {
			name += ", a scaled-out gateway node on Redis"
		}
		if e.opts.scaledOut.casesvcURL != "" {
			name += ", the case service over HTTP"
		}
		return name
	}
	return e.target.URL
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("claimline bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	var langs string
	fs.StringVar(&o.mode, "mode", "claim", "claim, idle, rest, steady, nlu, twilio or telegram")
	fs.StringVar(&o.url, "url", "", "a running claimline (loopback only, e.g. http://127.0.0.1:8080); default: start one in-process on a temporary data directory")
	fs.IntVar(&o.clients, "clients", 0, "customers (claim, rest), connections (idle) or conversations (steady); default per mode: claim 50, rest 50, idle 1000, steady 1000, twilio 64, telegram 64")
	fs.DurationVar(&o.duration, "duration", 0, "how long to load (idle: how long to hold the connections); default per mode")
	fs.DurationVar(&o.replyTimeout, "reply-timeout", 30*time.Second, "longest wait for one reply before it counts as an error")
	fs.Float64Var(&o.rate, "rate", 1, "steady: messages per second per conversation")
	fs.StringVar(&o.dataDir, "data", "", "in-process: data directory (default: a temporary one, removed afterwards)")
	fs.BoolVar(&o.echo, "echo", true, "claim: also drive a bare gorilla/websocket echo server the same way and print the ratio")
	fs.StringVar(&langs, "langs", "zh-TW,en", "customer languages, used in turn: zh-TW files a medical claim on HL20240017, en a motor claim on MT20250088")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "in-process: write a CPU profile of the load phase (claimline and the client) to this file")
	fs.StringVar(&o.memProfile, "memprofile", "", "in-process: write a heap profile at the end of the load phase to this file")
	fs.StringVar(&o.traceFile, "trace", "", "in-process: write an execution trace of the load phase (go tool trace: scheduling, syscalls, who waits for whom) to this file; keep the run short, it grows by megabytes a second")
	fs.StringVar(&o.blockProfile, "blockprofile", "", "in-process: record where goroutines wait (channels, locks, I/O waits excluded) during the load phase and write it to this file")
	fs.BoolVar(&o.quiet, "quiet", false, "print only the summary")
	fs.StringVar(&o.scaledOut.redisURL, "redis-url", "", "in-process: run the server as a scaled-out gateway node on this Redis (redis://…; give it a Redis of its own: the run's keys stay there)")
	fs.StringVar(&o.scaledOut.casesvcURL, "casesvc-url", "", "in-process: reach this case service (claimline casesvc, with its demo policies) instead of the embedded one; the token is CLAIMLINE_CASESVC_TOKEN")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: claimline bench [flags]\n\nModes:")
		names := make([]string, 0, len(modes))
		for n := range modes {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			fmt.Fprintf(stderr, "  %-8s %s\n", n, modes[n].help)
		}
		fmt.Fprintln(stderr, "\nFlags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	m, ok := modes[o.mode]
	if !ok {
		return o, fmt.Errorf("unknown mode %q (claim, idle, rest, steady, nlu, twilio, telegram)", o.mode)
	}
	if o.url != "" && (o.scaledOut.redisURL != "" || o.scaledOut.casesvcURL != "") {
		return o, errors.New("--redis-url and --casesvc-url configure the in-process server; drop --url")
	}
	if o.scaledOut.casesvcURL != "" {
		if o.scaledOut.casesvcToken = os.Getenv("CLAIMLINE_CASESVC_TOKEN"); o.scaledOut.casesvcToken == "" {
			return o, errors.New("--casesvc-url needs CLAIMLINE_CASESVC_TOKEN, the service token the case service was started with")
		}
	}
	if o.clients == 0 {
		o.clients = m.clients
	}
	if o.duration == 0 {
		o.duration = m.duration
	}
	switch {
	case o.clients < 1 || o.clients > 50000:
		return o, errors.New("--clients must be between 1 and 50000")
	case o.duration <= 0 || o.duration > time.Hour:
		return o, errors.New("--duration must be positive and at most 1h")
	case o.rate <= 0 || o.rate > 100:
		return o, errors.New("--rate must be in (0, 100]")
	case o.replyTimeout <= 0:
		return o, errors.New("--reply-timeout must be positive")
	}
	for _, l := range strings.Split(langs, ",") {
		switch l = strings.TrimSpace(l); l {
		case "zh-TW", "en":
			o.langs = append(o.langs, l)
		case "":
		default:
			return o, fmt.Errorf("--langs: unknown language %q (zh-TW, en)", l)
		}
	}
	if len(o.langs) == 0 {
		return o, errors.New("--langs: at least one language")
	}
	if o.url != "" {
		if err := checkLoopback(o.url); err != nil {
			return o, err
		}
		o.url = strings.TrimRight(o.url, "/")
		if o.cpuProfile != "" || o.memProfile != "" || o.blockProfile != "" || o.traceFile != "" {
			return o, errors.New("--cpuprofile, --memprofile, --blockprofile and --trace profile the in-process server; drop --url")
		}
	}
	return o, nil
}

// checkLoopback refuses any target that is not this machine: the tool is a load generator.
func checkLoopback(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("--url %q: want http://127.0.0.1:PORT", raw)
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("--url %q: only loopback addresses may be loaded", raw)
	}
	return nil
}

// profile starts the CPU profile (when asked) and returns the function that stops it and writes the
// heap profile.
func (e *env) profile() (stop func()) {
	var cpu *os.File
	if e.opts.cpuProfile != "" {
		f, err := os.Create(e.opts.cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(e.errw, "bench: cpu profile:", err)
		} else {
			cpu = f
		}
	}
	if e.opts.blockProfile != "" {
		runtime.SetBlockProfileRate(int(10 * time.Microsecond))
	}
	var tr *os.File
	if e.opts.traceFile != "" {
		f, err := os.Create(e.opts.traceFile)
		if err == nil {
			if err = trace.Start(f); err != nil {
				f.Close()
			}
		}
		if err != nil {
			fmt.Fprintln(e.errw, "bench: trace:", err)
		} else {
			tr = f
		}
	}
	return func() {
		if tr != nil {
			trace.Stop()
			tr.Close()
			fmt.Fprintf(e.out, "execution trace written to %s\n", e.opts.traceFile)
		}
		if e.opts.blockProfile != "" {
			runtime.SetBlockProfileRate(0)
			f, err := os.Create(e.opts.blockProfile)
			if err == nil {
				err = pprof.Lookup("block").WriteTo(f, 0)
				f.Close()
			}
			if err != nil {
				fmt.Fprintln(e.errw, "bench: block profile:", err)
			} else {
				fmt.Fprintf(e.out, "block profile written to %s\n", e.opts.blockProfile)
			}
		}
		if cpu != nil {
			pprof.StopCPUProfile()
			cpu.Close()
			fmt.Fprintf(e.out, "cpu profile written to %s\n", e.opts.cpuProfile)
		}
		if e.opts.memProfile != "" {
			runtime.GC()
			f, err := os.Create(e.opts.memProfile)
			if err == nil {
				err = pprof.Lookup("heap").WriteTo(f, 0)
				f.Close()
			}
			if err != nil {
				fmt.Fprintln(e.errw, "bench: heap profile:", err)
			} else {
				fmt.Fprintf(e.out, "heap profile written to %s\n", e.opts.memProfile)
			}
		}
	}
}

func (e *env) logf(format string, args ...any) {
	if !e.opts.quiet {
		fmt.Fprintf(e.out, format, args...)
	}
}
