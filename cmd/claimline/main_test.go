package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runCmd(t *testing.T, env map[string]string, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), append([]string{"claimline"}, args...), func(k string) string { return env[k] },
		strings.NewReader(""), &out, &errOut)
	return out.String() + errOut.String(), err
}

func TestCommandLine(t *testing.T) {
	if out, err := runCmd(t, nil, "version"); err != nil || !strings.HasPrefix(out, "claimline ") {
		t.Errorf("version: %q %v", out, err)
	}
	if _, err := runCmd(t, nil, "frobnicate"); err == nil {
		t.Error("an unknown command must fail")
	}
	bad := []struct {
		env  map[string]string
		args []string
		want string
	}{
		{nil, []string{"serve", "--tz", "Mars/Olympus"}, "unknown time zone"},
		{nil, []string{"serve", "--addr", "nonsense"}, "--addr"},
		{nil, []string{"serve", "--form-ttl", "-1h"}, "--form-ttl"},
		{map[string]string{"CLAIMLINE_REDIS_URL": "redis://127.0.0.1:1"}, []string{"serve", "--data", t.TempDir(), "--addr", "127.0.0.1:0"}, "redis"},
		{map[string]string{"CLAIMLINE_CASESVC_URL": "http://127.0.0.1:1"}, []string{"serve"}, "CLAIMLINE_CASESVC_TOKEN"},
		{nil, []string{"casesvc", "--data", t.TempDir(), "--addr", "127.0.0.1:0"}, "CLAIMLINE_CASESVC_TOKEN"},
		{map[string]string{"CLAIMLINE_STAFF": "lin:wizard:0123456789abcdefgh"}, []string{"serve", "--data", t.TempDir()}, "CLAIMLINE_STAFF"},
		{map[string]string{"CLAIMLINE_STAFF": "lin:specialist:short"}, []string{"serve", "--data", t.TempDir()}, "CLAIMLINE_STAFF"},
		{nil, []string{"nlu", "eval"}, "usage"},
	}
	for _, b := range bad {
		out, err := runCmd(t, b.env, b.args...)
		if err == nil || !strings.Contains(err.Error()+out, b.want) {
			t.Errorf("%v %v: err %v, want it to mention %q", b.env, b.args, err, b.want)
		}
	}
}

func TestNLUEval(t *testing.T) {
	path := filepath.Join(t.TempDir(), "eval.jsonl")
	os.WriteFile(path, []byte(`{"text":"我要申請理賠","intent":"file_claim","lang":"zh-TW"}
{"text":"what's the status of my claim","intent":"check_progress","lang":"en"}
`), 0o644)
	out, err := runCmd(t, nil, "nlu", "eval", path)
	if err != nil || !strings.Contains(out, "accuracy") || !strings.Contains(out, "file_claim") {
		t.Errorf("nlu eval: %v\n%s", err, out)
	}
	os.WriteFile(path, []byte("{\"text\":\"x\",\"intent\":\"buy_pizza\"}\n"), 0o644)
	if _, err := runCmd(t, nil, "nlu", "eval", path); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("a bad label must fail with its line: %v", err)
	}
}

func TestPoliciesImport(t *testing.T) {
	data := t.TempDir()
	path := filepath.Join(t.TempDir(), "policies.jsonl")
	os.WriteFile(path, []byte(`{"number":"QA20260002","product":"醫療險","status":"active","currency":"TWD","claim_types":["medical"],"holder":{"name":"測試","national_id":"A123456789","birth_date":"1985-03-02","phone":"+886912345678"}}
`), 0o644)
	if out, err := runCmd(t, nil, "policies", "import", path, "--data", data); err != nil || !strings.Contains(out, "imported 1") {
		t.Fatalf("import: %v %s", err, out)
	}
	os.WriteFile(path, []byte(`{"number":"QA20260003","status":"active","claim_types":["medical"],"holder":{"name":"x","national_id":"A123456780","birth_date":"1985-03-02"}}
`), 0o644)
	if _, err := runCmd(t, nil, "policies", "import", path, "--data", data); err == nil || !strings.Contains(err.Error(), ":1:") {
		t.Errorf("a policy with a bad national ID must be refused with its line: %v", err)
	}
}
