package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"claimline/casesvc"
)

// importPolicies loads policies from a JSON-lines file (one policy per line, the shape of
// PUT /api/v1/policies/{number}) into the case store. Every line is validated before any is stored,
// so a bad file changes nothing.
func importPolicies(ctx context.Context, cfg *config, path string, stdout io.Writer) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var policies []*casesvc.Policy
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		dec := json.NewDecoder(strings.NewReader(text))
		dec.DisallowUnknownFields()
		var p casesvc.Policy
		if err := dec.Decode(&p); err != nil {
			return fmt.Errorf("%s:%d: %v", path, line, err)
		}
		if err := casesvc.ValidatePolicy(&p, casesvc.DefaultCatalog()); err != nil {
			return fmt.Errorf("%s:%d: %s", path, line, casesvc.ErrorMessage(err))
		}
		policies = append(policies, &p)
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s: %v", path, err)
	}
	a, err := openApp(ctx, cfg, io.Discard, openMode{})
	if err != nil {
		return err
	}
	defer a.Close(context.Background())
	for _, p := range policies {
		if err := a.Cases.PutPolicy(ctx, p, "import"); err != nil {
			return fmt.Errorf("policy %s: %s", p.Number, casesvc.ErrorMessage(err))
		}
	}
	fmt.Fprintf(stdout, "imported %d policies\n", len(policies))
	return nil
}
