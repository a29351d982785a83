package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// These tests run claimline as a real process, the way a user does: the binary is built once, started
// on a free loopback port with its own data directory, and talked to over HTTP and websockets.

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

func claimlineBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "claimline-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "claimline")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// proc is one running claimline process.
type proc struct {
	t       *testing.T
	cmd     *exec.Cmd
	URL     string // http://127.0.0.1:PORT
	mu      sync.Mutex
	out     bytes.Buffer
	exited  chan struct{}
	dataDir string
}

// Staff tokens used by the process tests; CLAIMLINE_STAFF carries them in.
const (
	testSpecialistToken = "spec-token-0123456789abcdef"
	testSupervisorToken = "sup-token-0123456789abcdef"
	testAdminToken      = "admin-token-0123456789abcdef"
	testManagerToken    = "manager-token-0123456789abcdef"
)

var listenLine = regexp.MustCompile(`listening on (http://\S+)`)

// startProcess starts claimline serve on a free port with dataDir and waits until /readyz answers 200.
func startProcess(t *testing.T, dataDir string, extraEnv ...string) *proc {
	t.Helper()
	return startCommand(t, []string{"serve", "--addr", "127.0.0.1:0", "--data", dataDir}, extraEnv...)
}

// startCommand starts claimline with args (a command listening on a port it prints) and waits for
// its /readyz.
func startCommand(t *testing.T, args []string, extraEnv ...string) *proc {
	t.Helper()
	dataDir := ""
	for i, a := range args {
		if a == "--data" && i+1 < len(args) {
			dataDir = args[i+1]
		}
	}
	cmd := exec.Command(claimlineBinary(t), args...)
	cmd.Env = append(os.Environ(),
		"CLAIMLINE_STAFF=lin:specialist:"+testSpecialistToken+",chen:supervisor:"+testSupervisorToken+",ops:admin:"+testAdminToken+",wang:manager:"+testManagerToken,
		"CLAIMLINE_LOG_LEVEL=debug",
	)
	cmd.Env = append(cmd.Env, extraEnv...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{t: t, cmd: cmd, exited: make(chan struct{}), dataDir: dataDir}
	cmd.Stderr = &lockedWriter{p: p}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	urlc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.out.WriteString(line + "\n")
			p.mu.Unlock()
			if m := listenLine.FindStringSubmatch(line); m != nil {
				select {
				case urlc <- m[1]:
				default:
				}
			}
		}
	}()
	go func() { cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() { p.stop() })
	select {
	case p.URL = <-urlc:
	case <-p.exited:
		t.Fatalf("claimline exited at start:\n%s", p.output())
	case <-time.After(60 * time.Second):
		t.Fatalf("claimline did not say where it listens:\n%s", p.output())
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(p.URL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("claimline never became ready:\n%s", p.output())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type lockedWriter struct{ p *proc }

func (w *lockedWriter) Write(b []byte) (int, error) {
	w.p.mu.Lock()
	defer w.p.mu.Unlock()
	return w.p.out.Write(b)
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// kill ends the process with SIGKILL: no shutdown hooks run, as in a crash.
func (p *proc) kill() {
	p.cmd.Process.Kill()
	<-p.exited
}

func (p *proc) stop() {
	select {
	case <-p.exited:
		return
	default:
	}
	p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.exited
	}
}

// doJSON sends a JSON request and decodes the JSON answer into out (when not nil); it returns the status.
func doJSON(t *testing.T, method, url, token string, body, out any) int {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %d %s: %v", method, url, resp.StatusCode, b, err)
		}
	}
	return resp.StatusCode
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
