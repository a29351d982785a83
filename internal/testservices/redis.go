// Package testservices starts the real servers the scaled-out tests need (redis-server, PostgreSQL)
// on free loopback ports, or uses the machine's when the environment names one.
package testservices

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// StartRedis returns the URL of a Redis for the test: CLAIMLINE_TEST_REDIS_URL when set (the caller
// keeps its keys apart, e.g. with a per-test key prefix), else a redis-server of its own, started from
// PATH on a free loopback port (never 6379) with AOF on (appendonly yes, appendfsync everysec — the
// durability claimline's Redis deployment needs) and no RDB snapshots, in t.TempDir(). The server is
// stopped in t.Cleanup. A missing redis-server fails the test loudly with an install hint.
func StartRedis(t testing.TB) (url string) {
	t.Helper()
	if u := os.Getenv("CLAIMLINE_TEST_REDIS_URL"); u != "" {
		return u
	}
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("testservices: redis-server not found in PATH (%v).\n"+
			"Install it (Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis; or run "+
			"scripts' installer), or point CLAIMLINE_TEST_REDIS_URL at a Redis you may flush keys of.", err)
	}
	var lastErr error
	for range 5 { // a free port may be taken between the probe and the bind: try again
		port, err := freePort()
		if err != nil {
			t.Fatalf("testservices: free port: %v", err)
		}
		url, stop, err := startRedis(t, bin, port)
		if err == nil {
			t.Cleanup(stop)
			return url
		}
		lastErr = err
	}
	t.Fatalf("testservices: redis-server did not start: %v", lastErr)
	return ""
}

// RedisServer is a redis-server the test controls: it can be stopped and started again on the same
// port and data directory (its AOF survives), to test what happens when Redis restarts.
type RedisServer struct {
	URL  string
	t    testing.TB
	bin  string
	port int
	dir  string

	mu   sync.Mutex
	stop func()
}

// StartRedisServer starts a redis-server of the test's own (ignoring CLAIMLINE_TEST_REDIS_URL, since a
// shared server cannot be restarted) and stops it in t.Cleanup.
func StartRedisServer(t testing.TB) *RedisServer {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("testservices: redis-server not found in PATH (%v); install it (apt-get install redis-server).", err)
	}
	port, err := freePort()
	if err != nil {
		t.Fatalf("testservices: free port: %v", err)
	}
	s := &RedisServer{t: t, bin: bin, port: port, dir: t.TempDir()}
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

// Start starts the server (again); it fails the test when it does not answer.
func (s *RedisServer) Start() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stop != nil {
		return
	}
	url, stop, err := startRedisIn(s.t, s.bin, s.port, s.dir)
	if err != nil {
		s.t.Fatalf("testservices: redis-server: %v", err)
	}
	s.URL, s.stop = url, stop
}

// Stop stops the server (a clean SIGTERM: the AOF is flushed); calling it twice is fine.
func (s *RedisServer) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stop != nil {
		s.stop()
		s.stop = nil
	}
}

func startRedis(t testing.TB, bin string, port int) (string, func(), error) {
	return startRedisIn(t, bin, port, t.TempDir())
}

func startRedisIn(t testing.TB, bin string, port int, dir string) (string, func(), error) {
	if port == 6379 {
		return "", nil, fmt.Errorf("refusing the default port 6379")
	}
	cmd := exec.Command(bin,
		"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "yes", "--appendfsync", "everysec",
		"--dir", dir, "--daemonize", "no", "--protected-mode", "yes",
		"--logfile", filepath.Join(dir, "redis.log"))
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			log, _ := os.ReadFile(filepath.Join(dir, "redis.log"))
			return "", nil, fmt.Errorf("redis-server exited: %v\n%s", err, tail(string(log), 2000))
		default:
		}
		if ping(addr) {
			return "redis://" + addr + "/0", stop, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	return "", nil, fmt.Errorf("redis-server on %s did not answer PING within 10s", addr)
}

// ping speaks just enough RESP to see the server answer, without a client library.
func ping(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && strings.HasPrefix(line, "+PONG")
}

// freePort asks the kernel for a free loopback port, never 6379.
func freePort() (int, error) {
	for {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if port != 6379 {
			return port, nil
		}
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
