package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/sluice/sluice/dump"
)

func init() {
	register(&command{
		name:    "dump",
		summary: "print .log, .index and .timeindex files (Kafka's kafka-dump-log.sh)",
		usage:   "dump [--print-data] [--verify-index] FILE…",
		flags:   dumpFlags,
	})
}

func dumpFlags(fs *flag.FlagSet) func(args []string, stdout, stderr io.Writer) int {
	var opts dump.Options
	fs.BoolVar(&opts.PrintData, "print-data", false, "print every record of a .log (offset, timestamp, key, value)")
	fs.BoolVar(&opts.VerifyIndex, "verify-index", false, "check each .index entry against the .log beside it (exit 1 on a mismatch)")
	return func(args []string, stdout, stderr io.Writer) int {
		if len(args) == 0 {
			fmt.Fprintln(stderr, "sluice dump: no files given")
			fs.Usage()
			return 2
		}
		if err := dump.Files(stdout, opts, args...); err != nil {
			fmt.Fprintf(stderr, "sluice dump: %v\n", err)
			return 1
		}
		return 0
	}
}
