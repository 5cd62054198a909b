package main

import (
	"bytes"
	"flag"
	"os"
	"testing"

	"github.com/sluice/sluice/config"
)

var update = flag.Bool("update", false, "rewrite docs/CONFIGURATION.md")

// TestConfigDocsUpToDate fails when docs/CONFIGURATION.md is not what
// `sluiced --print-config-docs` prints (go test -update rewrites it).
func TestConfigDocsUpToDate(t *testing.T) {
	const path = "../../docs/CONFIGURATION.md"
	var want bytes.Buffer
	config.Markdown(&want)
	if *update {
		if err := os.WriteFile(path, want.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("%s is stale: run go run ./cmd/sluiced --print-config-docs > docs/CONFIGURATION.md (or go test ./cmd/sluiced -update)", path)
	}
}
