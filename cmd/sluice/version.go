package main

// sluice version: the module version and git revision of this binary.

import (
	"flag"
	"fmt"
	"io"

	"github.com/sluice/sluice/buildinfo"
)

func init() {
	register(&command{
		name:    "version",
		summary: "print this binary's version and git revision",
		usage:   "version [--output table|json|yaml]",
		flags:   versionFlags,
	})
}

func versionFlags(fs *flag.FlagSet) func(args []string, stdout, stderr io.Writer) int {
	output := outputFlag(outTable)
	addOutputFlag(fs, &output)
	return func(args []string, stdout, stderr io.Writer) int {
		if len(args) > 0 {
			return exit(stderr, "version", usagef("takes no arguments, got %q", args))
		}
		in := buildinfo.Read()
		return exit(stderr, "version", printOut(stdout, output, in, func(w io.Writer) error {
			_, err := fmt.Fprintf(w, "sluice %s\n", in)
			return err
		}))
	}
}
