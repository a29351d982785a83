package logging

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

func TestMask(t *testing.T) {
	tests := []struct{ in, want string }{
		{"id A123456789 here", "id A12****789 here"},
		{"lower a123456789", "lower a12****789"},
		{"phone +886912345678", "phone +8869****5678"},
		{"phone 0912345678.", "phone 09****5678."},
		{"phone 0912-345-678", "phone 09****5678"},
		{"landline 02-2345-6789", "landline 02****6789"},
		{"policy HL20240017 stays", "policy HL20240017 stays"},
		{"case CLM-20261124-000001 stays", "case CLM-20261124-000001 stays"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := Mask(tt.in); got != tt.want {
			t.Errorf("Mask(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestLoggerMasksEverything(t *testing.T) {
	var buf bytes.Buffer
	log := New(&buf, "json", slog.LevelDebug)
	log.Info("verify A123456789", "phone", "+886912345678", "err", errors.New("bad id B120000000"),
		slog.Group("g", "id", "A123456789"))
	out := buf.String()
	for _, clear := range []string{"A123456789", "912345678", "B120000000"} {
		if strings.Contains(out, clear) {
			t.Errorf("log contains %q in clear: %s", clear, out)
		}
	}
	if !strings.Contains(out, "A12****789") || !strings.Contains(out, "+8869****5678") {
		t.Errorf("log lost the masked forms: %s", out)
	}
}
