// Package dump prints segment files the way Kafka's DumpLogSegments
// (kafka-dump-log.sh) does: one line per batch of a .log (and per record with
// PrintData; a transaction marker's record shows "endTxnMarker: COMMIT
// coordinatorEpoch: N"), one line per entry of a .index, .timeindex or
// .txnindex (aborted transactions), and with
// VerifyIndex a check that each index entry points at the batch it claims.
// Corrupt or torn data is reported with its position and reason, never
// panicked on; the caller turns ErrProblems into exit status 1.
package dump

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
)

// Options select what is printed and checked.
type Options struct {
	// PrintData adds one line per record (offset, timestamp, key, value).
	PrintData bool
	// VerifyIndex checks every .index entry against the .log beside it
	// (and every .timeindex offset falls inside a batch of that log).
	VerifyIndex bool
}

// ErrProblems is returned (wrapped, with a count) when any file was
// unreadable, corrupt or torn, or an index did not match its log.
var ErrProblems = errors.New("dump: problems found")

// Files dumps each path to w in turn, going on after a bad one.
func Files(w io.Writer, opts Options, paths ...string) error {
	problems := 0
	for _, path := range paths {
		d := &dumper{w: w, opts: opts, path: path}
		d.file()
		problems += d.problems
	}
	if problems > 0 {
		return fmt.Errorf("%w: %d", ErrProblems, problems)
	}
	return nil
}

// dumper dumps one file.
type dumper struct {
	w        io.Writer
	opts     Options
	path     string
	problems int
}

// problem reports one finding that makes the dump fail.
func (d *dumper) problem(format string, args ...any) {
	d.problems++
	fmt.Fprintf(d.w, "ERROR: %s: %s\n", d.path, fmt.Sprintf(format, args...))
}

func (d *dumper) printf(format string, args ...any) { fmt.Fprintf(d.w, format, args...) }

func (d *dumper) file() {
	d.printf("Dumping %s\n", d.path)
	base, err := baseOffset(d.path)
	if err != nil {
		d.problem("%v", err)
		return
	}
	switch filepath.Ext(d.path) {
	case ".log":
		d.log(base)
	case ".index":
		d.offsetIndex(base)
	case ".timeindex":
		d.timeIndex(base)
	case ".txnindex":
		d.txnIndex()
	default:
		d.problem("unknown file type (want .log, .index, .timeindex or .txnindex)")
	}
}

// baseOffset parses the segment's base offset from its 20-digit file name.
func baseOffset(path string) (int64, error) {
	name := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	off, err := strconv.ParseInt(name, 10, 64)
	if err != nil || off < 0 {
		return 0, fmt.Errorf("cannot parse a base offset from the file name %q", filepath.Base(path))
	}
	return off, nil
}
