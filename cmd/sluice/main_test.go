package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "00000000000000000000.log")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	torn := filepath.Join(dir, "00000000000000000007.log")
	if err := os.WriteFile(torn, []byte("not a batch"), 0o644); err != nil {
		t.Fatal(err)
	}
	f := func(args []string, wantCode int, wantOut, wantErr string) {
		t.Helper()
		var stdout, stderr bytes.Buffer
		if code := run(args, &stdout, &stderr); code != wantCode {
			t.Fatalf("run(%q) = %d, want %d; stderr:\n%s", args, code, wantCode, stderr.String())
		}
		if !strings.Contains(stdout.String(), wantOut) || !strings.Contains(stderr.String(), wantErr) {
			t.Fatalf("run(%q): stdout %q (want %q), stderr %q (want %q)", args, stdout.String(), wantOut, stderr.String(), wantErr)
		}
	}
	f(nil, 2, "", "usage: sluice COMMAND")
	f([]string{"nope"}, 2, "", `unknown command "nope"`)
	f([]string{"help"}, 0, "dump ", "")
	f([]string{"help", "dump"}, 0, "-print-data", "")
	f([]string{"help", "nope"}, 2, "", "unknown command")
	f([]string{"dump"}, 2, "", "no files given")
	f([]string{"dump", "--bogus"}, 2, "", "flag provided but not defined")
	f([]string{"dump", "-h"}, 0, "", "usage: sluice dump")
	f([]string{"dump", empty}, 0, "Log starting offset: 0", "")
	f([]string{"dump", "--print-data", torn}, 1, "ERROR: "+torn+": position 0", "problems found: 1")
}
