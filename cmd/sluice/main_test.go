package main

import (
	"bytes"
	"encoding/json"
	"fmt"
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
	f([]string{"dump", "--bogus"}, 2, "", "sluice dump: flag provided but not defined: -bogus (see 'sluice dump --help')\n")
	f([]string{"dump", "-h"}, 0, "usage: sluice dump", "")
	f([]string{"dump", empty}, 0, "Log starting offset: 0", "")
	f([]string{"dump", "--print-data", torn}, 1, "ERROR: "+torn+": position 0", "problems found: 1")
	f([]string{"dump", torn, "--print-data"}, 1, "ERROR: "+torn+": position 0", "problems found: 1")
	f([]string{"dump", filepath.Join(dir, "nope.log")}, 1, "", "sluice dump: "+filepath.Join(dir, "nope.log")+": no such file\n")
	f([]string{"dump", empty, "--output", "yaml"}, 0, "- file: "+empty+"\n  log_start_offset: 0\n  errors: []\n", "")
	f([]string{"version"}, 0, "sluice ", "")
	f([]string{"version", "--output", "json"}, 0, `"revision":`, "")
	f([]string{"topics", "--bogus"}, 2, "", "see 'sluice topics --help'")
	f([]string{"groups", "list", "--bogus"}, 2, "", "sluice groups: flag provided but not defined: -bogus (see 'sluice groups --help')\n")
}

// TestHelpEqualsFlag checks that `sluice help CMD…` prints exactly what
// `sluice CMD… --help` prints, on stdout, for every command.
func TestHelpEqualsFlag(t *testing.T) {
	cmds := [][]string{{"topics"}, {"topics", "create"}, {"topics", "describe"}, {"groups"}}
	for name := range commands {
		cmds = append(cmds, []string{name})
	}
	for _, c := range cmds {
		var h, f, herr, ferr bytes.Buffer
		hc := run(append([]string{"help"}, c...), &h, &herr)
		fc := run(append(append([]string{}, c...), "--help"), &f, &ferr)
		if hc != 0 || fc != 0 || h.String() != f.String() || herr.Len()+ferr.Len() > 0 || !strings.Contains(h.String(), "usage: sluice "+c[0]) {
			t.Errorf("%v: help exit %d, --help exit %d\n--- help\n%s%s--- --help\n%s%s", c, hc, fc, h.String(), herr.String(), f.String(), ferr.String())
		}
	}
}

// TestDumpJSON dumps a real segment with --print-data --output json and
// parses it back.
func TestDumpJSON(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "00000000000000000000.log")
	if err := os.WriteFile(log, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"dump", log, "--print-data", "--output", "json"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var files []dumpedFile
	if err := json.Unmarshal(stdout.Bytes(), &files); err != nil || len(files) != 1 || files[0].File != log || *files[0].LogStartOffset != 0 {
		t.Fatalf("%+v %v\n%s", files, err, stdout.String())
	}
}

// TestParseDumpRecord reads --print-data lines back, with keys and values
// holding spaces, the word "payload: " and bytes that are not UTF-8.
func TestParseDumpRecord(t *testing.T) {
	f := func(line string, want map[string]any) {
		t.Helper()
		got := recordFields(line)
		for k, v := range want {
			if fmt.Sprint(got[k]) != fmt.Sprint(v) {
				t.Errorf("%q: %s = %#v, want %#v (all: %v)", line, k, got[k], v, got)
			}
		}
	}
	f("offset: 5 CreateTime: 17 keySize: 2 valueSize: 5 sequence: -1 headerKeys: [] key: k0 payload: aaaaa",
		map[string]any{"offset": 5, "create_time": 17, "key": "k0", "value_size": 5, "payload": "aaaaa", "header_keys": []string{}})
	f("offset: 6 CreateTime: 17 keySize: 12 valueSize: 10 sequence: -1 headerKeys: [a,b] key: a payload: b payload: payload: x",
		map[string]any{"key": "a payload: b", "payload": "payload: x", "header_keys": []string{"a", "b"}})
	f(`offset: 7 LogAppendTime: 1 keySize: -1 valueSize: 3 sequence: 4 headerKeys: [] payload: "\xff\x00a"`,
		map[string]any{"log_append_time": 1, "payload": "/wBh", "payload_encoding": "base64", "sequence": 4})
	f("offset: 9 CreateTime: 1 keySize: 4 valueSize: 6 sequence: -1 headerKeys: [] endTxnMarker: ABORT coordinatorEpoch: 3",
		map[string]any{"end_txn_marker": "ABORT", "coordinator_epoch": 3, "key_size": 4})
	if got := parseDump(strings.NewReader("Dumping x.txnindex\nversion: 0 producerId: 7 firstOffset: 3 lastOffset: 5 lastStableOffset: 6\n")); len(got) != 1 ||
		len(got[0].Entries) != 1 || fmt.Sprint(got[0].Entries[0]["last_stable_offset"]) != "6" {
		t.Errorf("txnindex entries: %+v", got[0])
	}
	if _, ok := recordFields("offset: 8 CreateTime: 1 keySize: -1 valueSize: -1 sequence: -1 headerKeys: []")["key"]; ok {
		t.Error("a null key was read as a key")
	}
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }
