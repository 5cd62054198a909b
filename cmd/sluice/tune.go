package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/sluice/sluice/tuning"
)

func init() {
	register(&command{
		name:    "tune",
		summary: "check this host's settings against the tuning guide, or write its sysctl file (changes nothing)",
		usage: "tune check [--data-dir D] [--unit FILE] [--output table|json|yaml]\n" +
			"       sluice tune sysctl   (prints /etc/sysctl.d/99-sluice.conf for this host)",
		flags: tuneFlags,
	})
}

// tuneHost and defaultUnit are replaced by tests.
var (
	tuneHost    = tuning.DefaultHost
	defaultUnit = tuning.DefaultUnit
)

func tuneFlags(fs *flag.FlagSet) func(args []string, stdout, stderr io.Writer) int {
	dataDir := fs.String("data-dir", "", "check: also check this data directory's filesystem, mount options and I/O scheduler")
	unit := fs.String("unit", "", "check: read LimitNOFILE from this systemd unit (and its .d/*.conf drop-ins); "+
		"default "+tuning.DefaultUnit+" when it exists, else this process's own limit; --unit= forces the latter")
	output := fs.String("output", "table", "check: table, json or yaml (the same fields)")
	asJSON := fs.Bool("json", false, "the same as --output json")
	return func(args []string, stdout, stderr io.Writer) int {
		if len(args) > 1 { // flags after the subcommand
			if err := fs.Parse(args[1:]); err != nil {
				return 2
			}
			args = append(args[:1], fs.Args()...)
		}
		if *asJSON {
			*output = "json"
		}
		if len(args) != 1 || (args[0] != "check" && args[0] != "sysctl") {
			fmt.Fprintln(stderr, "sluice tune: want: sluice tune check [--data-dir D] [--unit FILE] [--output table|json|yaml], or sluice tune sysctl")
			return 2
		}
		switch *output {
		case "table", "json", "yaml":
		default:
			fmt.Fprintf(stderr, "sluice tune: --output %q: want table, json or yaml\n", *output)
			return 2
		}
		h := tuneHost()
		if args[0] == "sysctl" {
			if *output != "table" {
				fmt.Fprintln(stderr, "sluice tune sysctl: prints a sysctl.d file; --output does not apply")
				return 2
			}
			fmt.Fprint(stdout, tuning.ConfFor(h))
			return 0
		}
		h.Unit = *unit
		if !tuneFlagGiven(fs, "unit") {
			if _, err := os.Stat(defaultUnit); err == nil {
				h.Unit = defaultUnit
			}
		}
		return tuneCheck(h, *dataDir, *output, stdout, stderr)
	}
}

func tuneCheck(h tuning.Host, dataDir, output string, stdout, stderr io.Writer) int {
	rs := tuning.Check(h, dataDir)
	if err := writeResultAs(stdout, output, rs, func(w io.Writer) { tuning.WriteTable(w, rs) }); err != nil {
		fmt.Fprintf(stderr, "sluice tune: %v\n", err)
		return 1
	}
	if tuning.Failed(rs) {
		fmt.Fprintln(stderr, "sluice tune: a critical setting is off (see tuning/GUIDE.md)")
		return 1
	}
	return 0
}

// tuneFlagGiven reports whether the flag name was given on the command line.
func tuneFlagGiven(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
