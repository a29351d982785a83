package main

import (
	"fmt"
	"io"
	"os"

	"claimline/dialog/nlu"
)

// nluEval evaluates the built-in classifier on a labelled JSON-lines file ({"text","intent","lang"} per
// line): accuracy overall and per language, per-intent precision and recall, a confusion matrix.
func nluEval(args []string, stdout io.Writer) error {
	if len(args) != 1 {
		return fmt.Errorf("usage: claimline nlu eval FILE")
	}
	f, err := os.Open(args[0])
	if err != nil {
		return err
	}
	defer f.Close()
	examples, err := nlu.ReadExamples(f)
	if err != nil {
		return fmt.Errorf("%s: %w", args[0], err)
	}
	parser, err := nlu.New(nlu.Config{})
	if err != nil {
		return err
	}
	return nlu.Evaluate(parser, examples).Write(stdout)
}
