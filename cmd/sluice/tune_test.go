package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice/sluice/tuning"
)

// fakeTuneHost makes tune read a temp /proc and /sys shaped like this VM
// (fs.file-max and tcp_rmem above the guide's minimums, max_map_count at
// the kernel default), with a caller limit of 20000; it returns the root.
func fakeTuneHost(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	files := map[string]string{
		"proc/sys/vm/dirty_background_bytes":          "0",
		"proc/sys/vm/dirty_bytes":                     "0",
		"proc/sys/vm/dirty_expire_centisecs":          "3000",
		"proc/sys/vm/swappiness":                      "60",
		"proc/sys/vm/max_map_count":                   "65530",
		"proc/sys/fs/file-max":                        "2466193",
		"proc/sys/net/core/somaxconn":                 "4096",
		"proc/sys/net/core/rmem_max":                  "4194304",
		"proc/sys/net/core/wmem_max":                  "4194304",
		"proc/sys/net/ipv4/tcp_rmem":                  "4096\t131072\t33554432",
		"proc/sys/net/ipv4/tcp_wmem":                  "4096\t16384\t4194304",
		"proc/sys/net/ipv4/tcp_slow_start_after_idle": "1",
		"sys/kernel/mm/transparent_hugepage/enabled":  "always [madvise] never",
		"sys/kernel/mm/transparent_hugepage/defrag":   "always defer defer+madvise [madvise] never",
	}
	for p, v := range files {
		path := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(v+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	oldHost, oldUnit := tuneHost, defaultUnit
	t.Cleanup(func() { tuneHost, defaultUnit = oldHost, oldUnit })
	tuneHost = func() tuning.Host {
		return tuning.Host{ProcRoot: filepath.Join(root, "proc"), SysRoot: filepath.Join(root, "sys"),
			NoFile: func() (uint64, error) { return 20000, nil }}
	}
	defaultUnit = filepath.Join(root, "no-such.service")
	return root
}

// tuneTranscript runs sluice tune and returns a transcript with the temp
// root replaced.
func tuneTranscript(root string, args ...string) string {
	out, errOut, code := runSluiceBT(append([]string{"tune"}, args...)...)
	s := "$ sluice tune " + strings.Join(args, " ") + "\n" + out
	if errOut != "" {
		s += "[stderr]\n" + errOut
	}
	s += "[exit " + string(rune('0'+code)) + "]\n"
	return strings.ReplaceAll(s, root, "<root>")
}

func TestTuneGolden(t *testing.T) {
	root := fakeTuneHost(t)
	unit := filepath.Join(root, "sluiced.service")
	if err := os.WriteFile(unit, []byte("[Service]\nLimitNOFILE=1048576\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	golden(t, "tune-check", tuneTranscript(root, "check"))
	golden(t, "tune-check-unit-json", tuneTranscript(root, "check", "--unit", unit, "--output", "json"))
	golden(t, "tune-check-yaml", tuneTranscript(root, "check", "--output", "yaml"))
	golden(t, "tune-sysctl", tuneTranscript(root, "sysctl"))
	golden(t, "tune-bad-output", tuneTranscript(root, "check", "--output", "xml"))
}

// TestTuneCheckOutputs: JSON parses back with the table's columns as
// keys, --json is --output json, and the default unit is read when it
// exists.
func TestTuneCheckOutputs(t *testing.T) {
	root := fakeTuneHost(t)
	out, _, code := runSluiceBT("tune", "check", "--json")
	var rs []map[string]any
	if err := json.Unmarshal([]byte(out), &rs); err != nil || code != 1 {
		t.Fatalf("exit %d, %v:\n%s", code, err, out)
	}
	for _, k := range []string{"setting", "current", "recommended", "status", "evidence", "why"} {
		if _, ok := rs[0][k]; !ok {
			t.Fatalf("JSON lacks %q: %v", k, rs[0])
		}
	}
	byName := func(rs []map[string]any, name string) map[string]any {
		for _, r := range rs {
			if r["setting"] == name {
				return r
			}
		}
		t.Fatalf("no %s", name)
		return nil
	}
	if r := byName(rs, "fs.file-max"); r["recommended"] != "2466193" || r["status"] != "ok" {
		t.Fatalf("fs.file-max above the minimum: %v", r)
	}
	if r := byName(rs, "LimitNOFILE"); r["current"] != "20000" {
		t.Fatalf("no unit installed: want this process's limit, got %v", r)
	}
	defaultUnit = filepath.Join(root, "installed.service")
	if err := os.WriteFile(defaultUnit, []byte("[Service]\nLimitNOFILE=524288\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _, _ = runSluiceBT("tune", "check", "--output", "json")
	rs = nil
	if err := json.Unmarshal([]byte(out), &rs); err != nil {
		t.Fatal(err)
	}
	if r := byName(rs, "LimitNOFILE"); r["current"] != "524288" || r["status"] != "ok" {
		t.Fatalf("installed unit not read: %v", r)
	}
	out, _, _ = runSluiceBT("tune", "check", "--output", "json", "--unit=")
	rs = nil
	if err := json.Unmarshal([]byte(out), &rs); err != nil {
		t.Fatal(err)
	}
	if r := byName(rs, "LimitNOFILE"); r["current"] != "20000" {
		t.Fatalf("--unit= should read this process's limit: %v", r)
	}
}
