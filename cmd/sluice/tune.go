package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/sluice/sluice/tuning"
)

func init() {
	register(&command{
		name:    "tune",
		summary: "check this host's settings against the tuning guide (changes nothing)",
		usage:   "tune check [--data-dir D] [--json]",
		flags:   tuneFlags,
	})
}

func tuneFlags(fs *flag.FlagSet) func(args []string, stdout, stderr io.Writer) int {
	dataDir := fs.String("data-dir", "", "also check this data directory's filesystem, mount options and I/O scheduler")
	asJSON := fs.Bool("json", false, "print the results as JSON")
	return func(args []string, stdout, stderr io.Writer) int {
		if len(args) > 1 { // flags after "check"
			if err := fs.Parse(args[1:]); err != nil {
				return 2
			}
			args = append(args[:1], fs.Args()...)
		}
		if len(args) != 1 || args[0] != "check" {
			fmt.Fprintln(stderr, "sluice tune: want: sluice tune check [--data-dir D] [--json]")
			return 2
		}
		rs := tuning.Check(tuning.DefaultHost(), *dataDir)
		write := tuning.WriteTable
		if *asJSON {
			write = tuning.WriteJSON
		}
		if err := write(stdout, rs); err != nil {
			fmt.Fprintf(stderr, "sluice tune: %v\n", err)
			return 1
		}
		if tuning.Failed(rs) {
			fmt.Fprintln(stderr, "sluice tune: a critical setting is off (see tuning/GUIDE.md)")
			return 1
		}
		return 0
	}
}
