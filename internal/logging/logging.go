// Package logging builds claimline's structured logger. Its one job beyond log/slog is a safety net:
// national ID numbers and phone numbers are masked in every logged string, whatever the call site
// passed in, because domain.md forbids personal data in logs in clear.
package logging

import (
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strings"
)

var (
	// A Taiwan national ID or resident number: one letter and nine digits, or two letters and eight.
	nationalIDPattern = regexp.MustCompile(`(?i)\b[A-Z][A-D1289]\d{8}\b`)
	// Phone numbers: +886 forms, Taiwan mobiles 09xxxxxxxx and landlines 0x-xxxx-xxxx with optional separators.
	phonePattern = regexp.MustCompile(`\+?886[\s-]?\d(?:[\s-]?\d){7,8}|\b0\d(?:[\s-]?\d){7,8}\b`)
)

// Mask hides national IDs (A12****789) and phone numbers (+8869****5678) inside s.
func Mask(s string) string {
	if s == "" {
		return s
	}
	s = nationalIDPattern.ReplaceAllStringFunc(s, func(id string) string {
		return id[:3] + "****" + id[len(id)-3:]
	})
	return phonePattern.ReplaceAllStringFunc(s, maskPhone)
}

func maskPhone(p string) string {
	digits := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' || r == '+' {
			return r
		}
		return -1
	}, p)
	if len(digits) < 8 {
		return p
	}
	// Keep the prefix up to the first subscriber digit and the last four: +8869****5678, 09****5678.
	keep := 2
	if strings.HasPrefix(digits, "+886") {
		keep = 5
	} else if strings.HasPrefix(digits, "886") {
		keep = 4
	}
	return digits[:keep] + "****" + digits[len(digits)-4:]
}

// New returns a logger writing to w in the given format ("json" or "text") at the given level, with
// personal data masked in every string attribute, error and message.
func New(w io.Writer, format string, level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: maskAttr}
	var h slog.Handler
	if format == "json" {
		h = slog.NewJSONHandler(w, opts)
	} else {
		h = slog.NewTextHandler(w, opts)
	}
	return slog.New(h)
}

func maskAttr(_ []string, a slog.Attr) slog.Attr {
	switch a.Value.Kind() {
	case slog.KindString:
		if m := Mask(a.Value.String()); m != a.Value.String() {
			return slog.String(a.Key, m)
		}
	case slog.KindAny:
		switch v := a.Value.Any().(type) {
		case error:
			return slog.String(a.Key, Mask(v.Error()))
		case fmt.Stringer:
			return slog.String(a.Key, Mask(v.String()))
		}
	}
	return a
}
