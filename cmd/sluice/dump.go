package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/sluice/sluice/dump"
)

func init() {
	register(&command{
		name:    "dump",
		summary: "print .log, .index, .timeindex and .txnindex files (Kafka's kafka-dump-log.sh)",
		usage:   "dump [--print-data] [--verify-index] [--output table|json|yaml] FILE…",
		flags:   dumpFlags,
	})
}

func dumpFlags(fset *flag.FlagSet) func(args []string, stdout, stderr io.Writer) int {
	var opts dump.Options
	output := outputFlag(outTable)
	fset.BoolVar(&opts.PrintData, "print-data", false, "print every record of a .log (offset, timestamp, key, value)")
	fset.BoolVar(&opts.VerifyIndex, "verify-index", false, "check each .index entry against the .log beside it (exit 1 on a mismatch)")
	addOutputFlag(fset, &output)
	return func(args []string, stdout, stderr io.Writer) int {
		files, err := parseInterspersed(fset, args) // flags may follow the files
		if err != nil {
			return flagError(stderr, "dump", err)
		}
		if len(files) == 0 {
			return exit(stderr, "dump", usagef("no files given"))
		}
		var missing []error
		var present []string
		for _, f := range files {
			if _, err := os.Stat(f); errors.Is(err, fs.ErrNotExist) {
				missing = append(missing, fmt.Errorf("%s: no such file", f))
			} else {
				present = append(present, f)
			}
		}
		var derr error
		if len(present) > 0 {
			derr = dumpFiles(stdout, opts, output, present)
		}
		if derr != nil && !errors.Is(derr, dump.ErrProblems) {
			return exit(stderr, "dump", derr)
		}
		if derr != nil || len(missing) > 0 {
			return exit(stderr, "dump", errors.Join(append(missing, derr)...))
		}
		return 0
	}
}

// dumpFiles dumps as text, or turns the text into JSON or YAML objects.
func dumpFiles(stdout io.Writer, opts dump.Options, output outputFlag, files []string) error {
	if !output.structured() {
		return dump.Files(stdout, opts, files...)
	}
	var buf bytes.Buffer
	err := dump.Files(&buf, opts, files...)
	if perr := printOut(stdout, output, parseDump(&buf), nil); perr != nil {
		return perr
	}
	return err
}

// dumpedFile is one file of `dump --output json`: the fields of each line
// of kafka-dump-log.sh's text, keys in snake_case.
type dumpedFile struct {
	File           string           `json:"file"`
	LogStartOffset *int64           `json:"log_start_offset,omitempty"`
	Batches        []map[string]any `json:"batches,omitempty"` // .log; with --print-data each has records
	Entries        []map[string]any `json:"entries,omitempty"` // .index, .timeindex, .txnindex
	Notes          []string         `json:"notes,omitempty"`
	Errors         []string         `json:"errors"`
}

var dumpKey = regexp.MustCompile(`(?:^| )([A-Za-z]+): `)

// parseDump reads the text of dump.Files back into objects.
func parseDump(r io.Reader) []*dumpedFile {
	out := []*dumpedFile{}
	var cur *dumpedFile
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	for sc.Scan() {
		line := sc.Text()
		if f, ok := strings.CutPrefix(line, "Dumping "); ok {
			cur = &dumpedFile{File: f, Errors: []string{}}
			out = append(out, cur)
			continue
		}
		if cur == nil {
			continue
		}
		switch {
		case strings.HasPrefix(line, "ERROR: "):
			cur.Errors = append(cur.Errors, strings.TrimPrefix(line, "ERROR: "+cur.File+": "))
		case strings.HasPrefix(line, "Log starting offset: "):
			n, _ := strconv.ParseInt(strings.TrimPrefix(line, "Log starting offset: "), 10, 64)
			cur.LogStartOffset = &n
		case strings.HasPrefix(line, "baseOffset: "):
			cur.Batches = append(cur.Batches, fields(line))
		case strings.HasPrefix(line, "| "):
			rec := recordFields(strings.TrimPrefix(line, "| "))
			if n := len(cur.Batches); n > 0 {
				recs, _ := cur.Batches[n-1]["records"].([]map[string]any)
				cur.Batches[n-1]["records"] = append(recs, rec)
			}
		case strings.HasPrefix(line, "offset: ") || strings.HasPrefix(line, "timestamp: ") || strings.HasPrefix(line, "version: "):
			cur.Entries = append(cur.Entries, fields(line))
		default:
			cur.Notes = append(cur.Notes, line)
		}
	}
	return out
}

// fields parses "name: value name: value" (values without spaces).
func fields(s string) map[string]any {
	m := map[string]any{}
	locs := dumpKey.FindAllStringSubmatchIndex(s, -1)
	for i, l := range locs {
		end := len(s)
		if i+1 < len(locs) {
			end = locs[i+1][0]
		}
		m[snake(s[l[2]:l[3]])] = scalar(s[l[1]:end])
	}
	return m
}

// recordFields parses a --print-data record line; its key and payload
// (last, and possibly with spaces) are cut by keySize and valueSize.
func recordFields(s string) map[string]any {
	head, rest, _ := strings.Cut(s, " headerKeys: [")
	m := fields(head)
	hdrs, rest, _ := strings.Cut(rest, "]")
	keys := []string{}
	if hdrs != "" {
		keys = strings.Split(hdrs, ",")
	}
	m["header_keys"] = keys
	take := func(prefix string, size any) {
		n, ok := size.(int64)
		if !ok || n < 0 || !strings.HasPrefix(rest, prefix) {
			return
		}
		rest = rest[len(prefix):]
		name := strings.TrimSpace(strings.TrimSuffix(prefix, ": "))
		// Valid UTF-8 is printed as it is (n bytes); anything else Go-quoted.
		if int(n) <= len(rest) && utf8.ValidString(rest[:n]) && (int(n) == len(rest) || strings.HasPrefix(rest[n:], " payload: ")) {
			m[name], rest = rest[:n], rest[n:]
			return
		}
		if q, err := strconv.QuotedPrefix(rest); err == nil {
			// Not UTF-8: base64, as consume --output json does.
			v, _ := strconv.Unquote(q)
			m[name], m[name+"_encoding"] = base64.StdEncoding.EncodeToString([]byte(v)), "base64"
			rest = rest[len(q):]
		}
	}
	if strings.HasPrefix(rest, " endTxnMarker: ") || strings.HasPrefix(rest, " controlType: ") {
		for k, v := range fields(strings.TrimPrefix(rest, " ")) { // a control record
			m[k] = v
		}
		return m
	}
	take(" key: ", m["key_size"])
	take(" payload: ", m["value_size"])
	return m
}

func scalar(s string) any {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n
	}
	if b, err := strconv.ParseBool(s); err == nil {
		return b
	}
	return s
}

// snake turns camelCase (and CreateTime) into snake_case.
func snake(s string) string {
	var b strings.Builder
	for i, r := range s {
		if unicode.IsUpper(r) {
			if i > 0 {
				b.WriteByte('_')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}
