// Command claimline runs the claims customer-service gateway. main only calls run; everything that
// can fail happens in run, before any route is served (see STYLE.md, Mat Ryer's layout).
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"claimline/internal/bench"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args, os.Getenv, os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "claimline:", err)
		os.Exit(1)
	}
}

const usage = `claimline — claims customer service: web chat, Telegram, SMS, and a dialog that files claims.

Usage:
  claimline serve [flags]     gateway and case service in one process (the embedded default)
  claimline casesvc [flags]   the case service alone, for several gateway nodes (CLAIMLINE_CASESVC_TOKEN;
                              SQLite in --data, or PostgreSQL with CLAIMLINE_POSTGRES_URL)
  claimline chat [flags]      chat with the bot in this terminal
  claimline policies import FILE [flags]
                              load policies from a JSON-lines file into the case store
  claimline nlu eval FILE     evaluate the built-in intent classifier on a labelled JSON-lines file
  claimline bench [flags]     load-test a claimline with simulated customers (see docs/performance.md)
  claimline version           print the version

Run "claimline serve -h" for the flags; every flag has a CLAIMLINE_* environment variable.
`

func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) < 2 {
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("no command given")
	}
	cmd, rest := args[1], args[2:]
	switch cmd {
	case "serve":
		cfg, err := parseConfig("serve", rest, getenv, stderr)
		if err != nil {
			return err
		}
		return serve(ctx, cfg, stdout, stderr)
	case "chat":
		cfg, err := parseConfig("chat", rest, getenv, stderr)
		if err != nil {
			return err
		}
		return chat(ctx, cfg, stdin, stdout, stderr)
	case "policies":
		if len(rest) < 2 || rest[0] != "import" {
			return fmt.Errorf("usage: claimline policies import FILE [flags]")
		}
		cfg, err := parseConfig("policies import", rest[2:], getenv, stderr)
		if err != nil {
			return err
		}
		return importPolicies(ctx, cfg, rest[1], stdout)
	case "nlu":
		if len(rest) < 1 || rest[0] != "eval" {
			return fmt.Errorf("usage: claimline nlu eval FILE")
		}
		return nluEval(rest[1:], stdout)
	case "bench":
		return bench.Main(ctx, rest, stdout, stderr)
	case "casesvc":
		cfg, err := parseConfig("casesvc", rest, getenv, stderr)
		if err != nil {
			return err
		}
		return runCasesvc(ctx, cfg, stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, "claimline", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", cmd)
	}
}
