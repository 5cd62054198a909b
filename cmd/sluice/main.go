// Command sluice administers a Sluice broker and its data: one subcommand
// per file of this package, each registering itself in commands.
//
//	sluice dump [--print-data] [--verify-index] FILE…
//	sluice repair --data-dir DIR [--topic T [--partition P]] [--execute]
//	sluice help [COMMAND]
package main

import (
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
}

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
	fs := flag.NewFlagSet("sluice "+c.name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { c.printUsage(fs, stderr) }
	body := c.flags(fs)
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	return body(fs.Args(), stdout, stderr)
}

func (c *command) printUsage(fs *flag.FlagSet, w io.Writer) {
	fmt.Fprintf(w, "usage: sluice %s\n\n%s\n", c.usage, c.summary)
	fs.SetOutput(w)
	fs.PrintDefaults()
}

func help(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stdout)
		return 0
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "sluice help: unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
	}
	fs := flag.NewFlagSet("sluice "+c.name, flag.ContinueOnError)
	c.flags(fs)
	c.printUsage(fs, stdout)
	return 0
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
	fmt.Fprintf(w, "  %-10s %s\n", "help", "show a command's usage: sluice help COMMAND")
}
