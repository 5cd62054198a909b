package main

import (
	"bytes"
	"flag"
	"os"
	"testing"

	"github.com/sluice/sluice/broker"
	"github.com/sluice/sluice/config"
)

var update = flag.Bool("update", false, "rewrite docs/CONFIGURATION.md, docs/TOPIC-CONFIGS.md and README.md's table")

// TestConfigDocsUpToDate fails when docs/CONFIGURATION.md is not what
// `sluiced --print-config-docs` prints (go test -update rewrites it).
func TestConfigDocsUpToDate(t *testing.T) {
	var want bytes.Buffer
	config.Markdown(&want)
	checkGenerated(t, "../../docs/CONFIGURATION.md", want.Bytes(),
		"go run ./cmd/sluiced --print-config-docs > docs/CONFIGURATION.md (or go test ./cmd/sluiced -update)")
}

// checkGenerated fails when the file at path is not want (-update
// rewrites it); how names the command that regenerates it.
func checkGenerated(t *testing.T, path string, want []byte, how string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is stale: run %s", path, how)
	}
}

// TestReadmeConfigTableUpToDate fails when README.md's configuration
// table is not config.ReadmeTable's (go test -update rewrites it).
func TestReadmeConfigTableUpToDate(t *testing.T) {
	const path = "../../README.md"
	readme, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var table bytes.Buffer
	config.ReadmeTable(&table)
	want := bytes.TrimSuffix(table.Bytes(), []byte("\n"))
	begin := bytes.Index(readme, []byte(config.ReadmeBegin))
	end := bytes.Index(readme, []byte(config.ReadmeEnd))
	if *update {
		switch {
		case begin >= 0 && end > begin:
			readme = bytes.Join([][]byte{readme[:begin], want, readme[end+len(config.ReadmeEnd):]}, nil)
		default:
			readme = bytes.Replace(readme, []byte("@@TABLE@@"), want, 1)
		}
		if err := os.WriteFile(path, readme, 0o644); err != nil {
			t.Fatal(err)
		}
		begin, end = bytes.Index(readme, []byte(config.ReadmeBegin)), bytes.Index(readme, []byte(config.ReadmeEnd))
	}
	if begin < 0 || end < begin {
		t.Fatalf("%s has no generated config table between %q and %q", path, config.ReadmeBegin, config.ReadmeEnd)
	}
	if got := readme[begin : end+len(config.ReadmeEnd)]; !bytes.Equal(got, want) {
		t.Fatalf("%s's config table is stale: go test ./cmd/sluiced -update", path)
	}
}

// TestTopicConfigDocsUpToDate fails when docs/TOPIC-CONFIGS.md is not what
// broker.TopicConfigsMarkdown writes (go test -update rewrites it).
func TestTopicConfigDocsUpToDate(t *testing.T) {
	var want bytes.Buffer
	broker.TopicConfigsMarkdown(&want)
	checkGenerated(t, "../../docs/TOPIC-CONFIGS.md", want.Bytes(),
		"go test ./cmd/sluiced -run TestTopicConfigDocsUpToDate -update")
}
