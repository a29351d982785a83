package testservices

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// StartPostgres returns the URL of a fresh, empty database for the test, dropped when it ends.
//
// With CLAIMLINE_TEST_POSTGRES_URL set (a URL of a server where that user may CREATE DATABASE), the
// database is made there. Otherwise a temporary cluster is made with the machine's PostgreSQL
// binaries (/usr/lib/postgresql/*/bin: initdb, pg_ctl) in t.TempDir(), listening on a free loopback
// port (never 5432) with trust authentication and no Unix socket, and stopped when the test ends.
// Run as root, the cluster runs as the postgres user (initdb refuses root). Without the binaries
// the test fails with an install hint.
func StartPostgres(t testing.TB) (url string) {
	t.Helper()
	if base := os.Getenv("CLAIMLINE_TEST_POSTGRES_URL"); base != "" {
		return CreateDatabase(t, base)
	}
	return CreateDatabase(t, startCluster(t))
}

// CreateDatabase makes a fresh database on the server of serverURL and returns its URL; it is
// dropped when the test ends. Tests that need several databases on one cluster (a contract suite's
// subtests) call StartPostgres once and this for each.
func CreateDatabase(t testing.TB, serverURL string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, serverURL)
	if err != nil {
		t.Fatalf("testservices: connect to PostgreSQL: %v", err)
	}
	defer conn.Close(ctx)
	name := "claimline_test_" + strings.ToLower(rand.Text()[:12])
	if _, err := conn.Exec(ctx, `CREATE DATABASE `+name); err != nil {
		t.Fatalf("testservices: create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, serverURL)
		if err != nil {
			return // the cluster is gone already
		}
		defer conn.Close(ctx)
		conn.Exec(ctx, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`)
	})
	u, err := url.Parse(serverURL)
	if err != nil {
		t.Fatalf("testservices: parse URL: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

// postgresBin finds the newest installed PostgreSQL's bin directory.
func postgresBin() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	var ok []string
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			ok = append(ok, d)
		}
	}
	if len(ok) == 0 {
		if p, err := exec.LookPath("initdb"); err == nil {
			return filepath.Dir(p), nil
		}
		return "", fmt.Errorf("no PostgreSQL server binaries (initdb, pg_ctl) in /usr/lib/postgresql/*/bin or PATH: " +
			"install them (Debian/Ubuntu: apt-get install postgresql) or set CLAIMLINE_TEST_POSTGRES_URL to a server's URL")
	}
	sort.Slice(ok, func(i, j int) bool { return pgVersion(ok[i]) < pgVersion(ok[j]) })
	return ok[len(ok)-1], nil
}

func pgVersion(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

// pgFreePort returns a free loopback TCP port other than 5432.
func pgFreePort(t testing.TB) int {
	t.Helper()
	for range 10 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("testservices: free port: %v", err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if port != 5432 {
			return port
		}
	}
	t.Fatal("testservices: no free port")
	return 0
}

// startCluster makes and starts a throwaway cluster and returns the URL of its postgres database.
func startCluster(t testing.TB) string {
	t.Helper()
	bin, err := postgresBin()
	if err != nil {
		t.Fatalf("testservices: %v", err)
	}
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	logFile := filepath.Join(dir, "postgres.log")

	// initdb refuses to run as root: run the server binaries as the postgres user, which must be able
	// to reach and own the directory.
	var prefix []string
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("testservices: running as root needs the postgres user (apt-get install postgresql): %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		// t.TempDir's parent is private to root: let others traverse it (not list it).
		for _, d := range []string{filepath.Dir(dir), dir} {
			if err := os.Chmod(d, 0o711); err != nil {
				t.Fatalf("testservices: %v", err)
			}
		}
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatalf("testservices: %v", err)
		}
		if runuser, err := exec.LookPath("runuser"); err == nil {
			prefix = []string{runuser, "-u", "postgres", "--"}
		} else if setpriv, err := exec.LookPath("setpriv"); err == nil {
			prefix = []string{setpriv, "--reuid=" + u.Uid, "--regid=" + u.Gid, "--init-groups", "--"}
		} else {
			t.Fatal("testservices: running as root needs runuser or setpriv to start PostgreSQL as the postgres user")
		}
	}
	run := func(name string, args ...string) {
		t.Helper()
		argv := append(append(append([]string{}, prefix...), filepath.Join(bin, name)), args...)
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Dir = dir
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			logs, _ := os.ReadFile(logFile)
			t.Fatalf("testservices: %s: %v\n%s\n%s", name, err, out.String(), logs)
		}
	}
	run("initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync")
	port := pgFreePort(t)
	opts := fmt.Sprintf("-p %d -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c fsync=off "+
		"-c synchronous_commit=off -c full_page_writes=off -c max_connections=200", port)
	run("pg_ctl", "-D", data, "-l", logFile, "-o", opts, "-w", "-t", "60", "start")
	t.Cleanup(func() {
		argv := append(append(append([]string{}, prefix...), filepath.Join(bin, "pg_ctl")), "-D", data, "-m", "immediate", "-w", "stop")
		exec.Command(argv[0], argv[1:]...).Run()
	})
	serverURL := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
	// pg_ctl -w waited for the postmaster; wait until it takes connections too.
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		conn, err := pgx.Connect(ctx, serverURL)
		if err == nil {
			err = conn.Ping(ctx)
			conn.Close(ctx)
		}
		cancel()
		if err == nil {
			return serverURL
		}
		if time.Now().After(deadline) {
			logs, _ := os.ReadFile(logFile)
			t.Fatalf("testservices: PostgreSQL did not become ready: %v\n%s", err, logs)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
