package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestVersionAndBadFlag: --version prints one line; a bad flag is one line
// of error (printed by main) with the hint to --help, and nothing else.
func TestVersionAndBadFlag(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"--version"}, nil, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	if out := stdout.String(); !strings.HasPrefix(out, "sluiced ") || strings.Count(out, "\n") != 1 || !strings.Contains(out, "revision") {
		t.Fatalf("--version: %q", out)
	}
	stdout.Reset()
	err := run(context.Background(), []string{"--no-such-flag"}, nil, &stdout, &stderr)
	if err == nil || exitCode(err) != 2 || stdout.Len()+stderr.Len() > 0 ||
		err.Error() != "flag provided but not defined: -no-such-flag (see 'sluiced --help')" {
		t.Fatalf("bad flag: %v, stdout %q, stderr %q", err, stdout.String(), stderr.String())
	}
	if err := run(context.Background(), []string{"--help"}, nil, &stdout, &stderr); !isUsageError(err) || !strings.HasPrefix(stdout.String(), "usage: sluiced") || stderr.Len() > 0 {
		t.Fatalf("--help: %v, stderr %q", err, stderr.String())
	}
}
