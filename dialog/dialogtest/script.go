// Package dialogtest runs scripted conversations: one script format, read by the engine's tests and by
// the end-to-end tests over the REST channel, so the same conversation is proven at both levels.
//
// A script is a text file of lines:
//
//	# a comment
//	lang: en          the channel's language hint for the whole conversation
//	> text            the customer types text
//	! value           the customer presses the button with this value
//	< words           the bot's replies to the last input contain words
//	<! words          ... and do not contain words
//	<button value     ... and offer a button with this value
package dialogtest

import (
	"bufio"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// Script is one parsed conversation.
type Script struct {
	Name  string
	Lang  string
	Steps []Step
}

// Step is one customer input and what the bot must answer to it.
type Step struct {
	Line          int
	Text, Action  string
	Want, WantNot []string
	Buttons       []string
}

// Reply is what a runner's bot said: text and button values.
type Reply struct {
	Text    string
	Buttons []string
}

// Parse reads a script.
func Parse(name, src string) (*Script, error) {
	s := &Script{Name: name}
	sc := bufio.NewScanner(strings.NewReader(src))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		last := func() (*Step, error) {
			if len(s.Steps) == 0 {
				return nil, fmt.Errorf("%s:%d: an expectation before any input", name, n)
			}
			return &s.Steps[len(s.Steps)-1], nil
		}
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "lang:"):
			s.Lang = strings.TrimSpace(strings.TrimPrefix(line, "lang:"))
		case strings.HasPrefix(line, "> "):
			s.Steps = append(s.Steps, Step{Line: n, Text: line[2:]})
		case strings.HasPrefix(line, "! "):
			s.Steps = append(s.Steps, Step{Line: n, Action: strings.TrimSpace(line[2:])})
		case strings.HasPrefix(line, "<! "):
			st, err := last()
			if err != nil {
				return nil, err
			}
			st.WantNot = append(st.WantNot, line[3:])
		case strings.HasPrefix(line, "<button "):
			st, err := last()
			if err != nil {
				return nil, err
			}
			st.Buttons = append(st.Buttons, strings.TrimSpace(line[8:]))
		case strings.HasPrefix(line, "< "):
			st, err := last()
			if err != nil {
				return nil, err
			}
			st.Want = append(st.Want, line[2:])
		default:
			return nil, fmt.Errorf("%s:%d: cannot read %q", name, n, line)
		}
	}
	return s, sc.Err()
}

// Load parses every *.txt script in dir, sorted by name.
func Load(dir string) ([]*Script, error) {
	paths, err := fs.Glob(os.DirFS(dir), "*.txt")
	if err != nil {
		return nil, err
	}
	sort.Strings(paths)
	var scripts []*Script
	for _, p := range paths {
		b, err := os.ReadFile(filepath.Join(dir, p))
		if err != nil {
			return nil, err
		}
		s, err := Parse(strings.TrimSuffix(p, ".txt"), string(b))
		if err != nil {
			return nil, err
		}
		scripts = append(scripts, s)
	}
	if len(scripts) == 0 {
		return nil, fmt.Errorf("no scripts in %s", dir)
	}
	return scripts, nil
}

// Run plays the script: say sends one input (text or a button value) and returns the bot's replies.
// Every expectation is checked; a failure names the script line and shows what the bot said.
func (s *Script) Run(t *testing.T, say func(text, action string) []Reply) {
	t.Helper()
	for _, st := range s.Steps {
		replies := say(st.Text, st.Action)
		var all strings.Builder
		buttons := map[string]bool{}
		for _, r := range replies {
			all.WriteString(r.Text)
			all.WriteString("\n")
			for _, b := range r.Buttons {
				buttons[b] = true
			}
		}
		said := all.String()
		input := st.Text
		if st.Action != "" {
			input = "[" + st.Action + "]"
		}
		for _, w := range st.Want {
			if !strings.Contains(said, w) {
				t.Errorf("%s:%d: after %q the bot should say %q; it said:\n%s", s.Name, st.Line, input, w, said)
			}
		}
		for _, w := range st.WantNot {
			if strings.Contains(said, w) {
				t.Errorf("%s:%d: after %q the bot should not say %q; it said:\n%s", s.Name, st.Line, input, w, said)
			}
		}
		for _, b := range st.Buttons {
			if !buttons[b] {
				t.Errorf("%s:%d: after %q the bot should offer button %q; it said:\n%s (buttons %v)", s.Name, st.Line, input, b, said, buttons)
			}
		}
		if t.Failed() {
			return
		}
	}
}
