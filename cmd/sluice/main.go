// Command sluice administers a Sluice broker and its data: one subcommand
// per file of this package, each registering itself in commands.
//
//	sluice dump [--print-data] [--verify-index] FILE…
//	sluice repair --data-dir DIR [--topic T [--partition P]] [--execute]
//	sluice help [COMMAND]
//
// Conventions shared by every subcommand: results on stdout (a table, or
// with --output json|yaml the same fields in snake_case), messages and
// errors on stderr, exit status 0 (ok), 1 (failure) or 2 (usage). A bad
// flag prints one line and the hint to --help; `sluice help CMD` prints
// what `sluice CMD --help` prints.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
)

// command is one subcommand. run gets the arguments after the subcommand's
// name and returns the exit status (0 ok, 1 failure, 2 usage).
type command struct {
	name    string
	summary string // one line for the command list
	usage   string // the synopsis after "sluice "
	flags   func(fs *flag.FlagSet) func(args []string, stdout, stderr io.Writer) int
	more    func(w io.Writer) // optional: more usage after the flags (subcommands)
}

// codeHelp is what a command body returns when its flags asked for help
// (-h after a positional argument): command.run prints the usage.
const codeHelp = -1

var commands = map[string]*command{}

// register adds a subcommand; each subcommand's file calls it from init.
func register(c *command) {
	if _, dup := commands[c.name]; dup {
		panic("BUG: sluice subcommand registered twice: " + c.name)
	}
	commands[c.name] = c
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run dispatches args[0] to its subcommand.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	name, rest := args[0], args[1:]
	switch name {
	case "help", "-h", "-help", "--help":
		return help(rest, stdout, stderr)
	}
	c, ok := commands[name]
	if !ok {
		fmt.Fprintf(stderr, "sluice: unknown command %q\n\n", name)
		usage(stderr)
		return 2
	}
	return c.run(rest, stdout, stderr)
}

// run parses the subcommand's flags with its own FlagSet and runs it.
func (c *command) run(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("sluice " + c.name)
	body := c.flags(fs)
	code := 0
	if err := fs.Parse(args); err != nil {
		code = flagError(stderr, c.name, err)
	} else {
		code = body(fs.Args(), stdout, stderr)
	}
	if code == codeHelp {
		c.printUsage(fs, stdout)
		return 0
	}
	return code
}

// newFlagSet returns a FlagSet that prints nothing itself: flagError and
// the usage printers do.
func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// flagError reports a flag parsing error in one line with the hint to
// --help and returns 2, or codeHelp when the flags asked for help.
func flagError(stderr io.Writer, name string, err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return codeHelp
	}
	fmt.Fprintf(stderr, "sluice %s: %v (see 'sluice %s --help')\n", name, err, name)
	return 2
}

func (c *command) printUsage(fs *flag.FlagSet, w io.Writer) {
	fmt.Fprintf(w, "usage: sluice %s\n\n%s\n", c.usage, c.summary)
	if c.more != nil {
		fmt.Fprintln(w)
		c.more(w)
	}
	if hasFlags(fs) {
		fmt.Fprintf(w, "\nflags:\n")
		fs.SetOutput(w)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
}

func hasFlags(fs *flag.FlagSet) bool {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	return n > 0
}

// help prints what `sluice CMD… --help` prints.
func help(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stdout)
		return 0
	}
	if _, ok := commands[args[0]]; !ok {
		fmt.Fprintf(stderr, "sluice help: unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
	}
	return run(append(append([]string{}, args...), "--help"), stdout, stderr)
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "usage: sluice COMMAND [ARGS]\n\ncommands:\n")
	names := make([]string, 0, len(commands))
	for name := range commands {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Fprintf(w, "  %-10s %s\n", name, commands[name].summary)
	}
	fmt.Fprintf(w, "  %-10s %s\n", "help", "show a command's usage: sluice help COMMAND (same as sluice COMMAND --help)")
	fmt.Fprintf(w, "\nEvery command that prints a result takes --output table|json|yaml; errors go to\nstderr; exit status 0 ok, 1 failure, 2 usage.\n")
}
