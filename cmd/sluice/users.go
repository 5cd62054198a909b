package main

// sluice users create|delete|list: SCRAM users (KIP-554), with kadm's
// AlterUserScramCredentials and DescribeUserScramCredentials.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/sluice/sluice/auth"
)

func init() {
	register(&command{
		name:    "users",
		summary: "create, delete and list SCRAM users (SASL/SCRAM-SHA-256 and -512)",
		usage:   "users create|delete|list [FLAGS] [USER…]",
		flags:   usersFlags,
		more:    usersSubList,
	})
}

// usersSub is one `sluice users` subcommand.
type usersSub struct {
	usage, summary string
	flags          func(fs *flag.FlagSet) topicsBody
}

var usersSubs = map[string]usersSub{
	"create": {"create USER… [--user-password P] [--mechanism M]… [--iterations N]",
		"create users or set their passwords (SLUICE_USER_PASSWORD if --user-password is not given)", usersCreateFlags},
	"delete": {"delete USER… [--mechanism M]…", "delete users' SCRAM credentials (every mechanism unless --mechanism)", usersDeleteFlags},
	"list":   {"list [USER…]", "list users with their mechanisms and iteration counts (never a password)", usersListFlags},
}

func usersFlags(*flag.FlagSet) func(args []string, stdout, stderr io.Writer) int {
	return func(args []string, stdout, stderr io.Writer) int {
		if len(args) == 0 {
			fmt.Fprintln(stderr, "usage: sluice users SUBCOMMAND [FLAGS] [USER…]")
			fmt.Fprintln(stderr)
			usersSubList(stderr)
			return 2
		}
		sub, ok := usersSubs[args[0]]
		if !ok {
			fmt.Fprintf(stderr, "sluice users: unknown subcommand %q (see 'sluice users --help')\n", args[0])
			return 2
		}
		return runUsersSub(args[0], sub, args[1:], stdout, stderr)
	}
}

func usersSubList(w io.Writer) {
	fmt.Fprintln(w, "subcommands:")
	for _, n := range []string{"create", "delete", "list"} {
		fmt.Fprintf(w, "  %-7s %s\n", n, usersSubs[n].summary)
	}
}

func runUsersSub(name string, sub usersSub, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("sluice users " + name)
	cf := addClientFlags(fs)
	body := sub.flags(fs)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		if code := flagError(stderr, "users "+name, err); code != codeHelp {
			return code
		}
		fmt.Fprintf(stdout, "usage: sluice users %s\n\n%s\n\nflags:\n", sub.usage, sub.summary)
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		return 0
	}
	adm, err := cf.admin()
	if err != nil {
		return exit(stderr, "users "+name, err)
	}
	defer adm.Close()
	ctx, cancel := context.WithTimeout(context.Background(), cf.timeout)
	defer cancel()
	return exit(stderr, "users "+name, body(ctx, adm, cf, pos, stdout))
}

// mechanismsFlag is a repeatable --mechanism.
type mechanismsFlag []kadm.ScramMechanism

func (m *mechanismsFlag) String() string { return "" }

func (m *mechanismsFlag) Set(s string) error {
	switch mech, _ := auth.ParseMechanism(s); mech {
	case auth.ScramSHA256:
		*m = append(*m, kadm.ScramSha256)
	case auth.ScramSHA512:
		*m = append(*m, kadm.ScramSha512)
	default:
		return fmt.Errorf("%q: want SCRAM-SHA-256 or SCRAM-SHA-512", s)
	}
	return nil
}

func (m mechanismsFlag) orBoth() []kadm.ScramMechanism {
	if len(m) == 0 {
		return []kadm.ScramMechanism{kadm.ScramSha256, kadm.ScramSha512}
	}
	return m
}

func needUsers(args []string) error {
	if len(args) == 0 {
		return usagef("no user given")
	}
	return nil
}

func usersCreateFlags(fs *flag.FlagSet) topicsBody {
	var mechs mechanismsFlag
	var password string
	iterations := fs.Int("iterations", auth.MinIterations, "SCRAM iterations (4096-16384; more is slower to guess and to authenticate)")
	fs.Var(&mechs, "mechanism", "`SCRAM-SHA-256|SCRAM-SHA-512` (repeatable; default both, so any client's choice works)")
	fs.StringVar(&password, "user-password", "", "the users' password (env SLUICE_USER_PASSWORD; a flag shows in the process list)")
	return func(ctx context.Context, adm *kadm.Client, cf *clientFlags, args []string, stdout io.Writer) error {
		if err := needUsers(args); err != nil {
			return err
		}
		password = or(password, os.Getenv("SLUICE_USER_PASSWORD"))
		if password == "" {
			return usagef("no password: --user-password or SLUICE_USER_PASSWORD")
		}
		if *iterations < auth.MinIterations || *iterations > auth.MaxIterations {
			return usagef("--iterations %d: want %d-%d", *iterations, auth.MinIterations, auth.MaxIterations)
		}
		var ups []kadm.UpsertSCRAM
		for _, u := range args {
			for _, m := range mechs.orBoth() {
				ups = append(ups, kadm.UpsertSCRAM{User: u, Mechanism: m, Iterations: int32(*iterations), Password: password})
			}
		}
		res, err := adm.AlterUserSCRAMs(ctx, nil, ups)
		if err != nil {
			return fmt.Errorf("create users: %w", err)
		}
		return printUserStatuses(stdout, cf, res)
	}
}

func usersDeleteFlags(fs *flag.FlagSet) topicsBody {
	var mechs mechanismsFlag
	fs.Var(&mechs, "mechanism", "`SCRAM-SHA-256|SCRAM-SHA-512` to delete (repeatable; default every mechanism the user has)")
	return func(ctx context.Context, adm *kadm.Client, cf *clientFlags, args []string, stdout io.Writer) error {
		if err := needUsers(args); err != nil {
			return err
		}
		var dels []kadm.DeleteSCRAM
		if len(mechs) == 0 {
			desc, err := adm.DescribeUserSCRAMs(ctx, args...)
			if err != nil {
				return fmt.Errorf("describe users: %w", err)
			}
			var errs []error
			for _, u := range args {
				d := desc[u]
				if d.Err != nil {
					errs = append(errs, fmt.Errorf("%s: %s", u, errText(d.Err, d.ErrMessage)))
				}
				for _, ci := range d.CredInfos {
					dels = append(dels, kadm.DeleteSCRAM{User: u, Mechanism: ci.Mechanism})
				}
			}
			if len(errs) > 0 {
				return errors.Join(errs...)
			}
		} else {
			for _, u := range args {
				for _, m := range mechs {
					dels = append(dels, kadm.DeleteSCRAM{User: u, Mechanism: m})
				}
			}
		}
		res, err := adm.AlterUserSCRAMs(ctx, dels, nil)
		if err != nil {
			return fmt.Errorf("delete users: %w", err)
		}
		return printUserStatuses(stdout, cf, res)
	}
}

// userStatus is one user's outcome of create or delete.
type userStatus struct {
	User   string `json:"user"`
	Status string `json:"status"` // OK or the error
}

func printUserStatuses(w io.Writer, cf *clientFlags, res kadm.AlteredUserSCRAMs) error {
	var st []userStatus
	var errs []error
	for _, r := range res.Sorted() {
		s := userStatus{User: r.User, Status: "OK"}
		if r.Err != nil {
			s.Status = errText(r.Err, r.ErrMessage)
			errs = append(errs, fmt.Errorf("%s: %s", r.User, s.Status))
		}
		st = append(st, s)
	}
	err := printOut(w, cf.output, st, func(w io.Writer) error {
		tw := table(w)
		fmt.Fprintln(tw, "USER\tSTATUS")
		for _, s := range st {
			fmt.Fprintf(tw, "%s\t%s\n", s.User, s.Status)
		}
		return tw.Flush()
	})
	return errors.Join(append([]error{err}, errs...)...)
}

// userCreds is one user of list.
type userCreds struct {
	User       string   `json:"user"`
	Mechanisms []string `json:"mechanisms"`
	Iterations []int32  `json:"iterations"`
	Error      string   `json:"error,omitempty"`
}

func usersListFlags(*flag.FlagSet) topicsBody {
	return func(ctx context.Context, adm *kadm.Client, cf *clientFlags, args []string, stdout io.Writer) error {
		desc, err := adm.DescribeUserSCRAMs(ctx, args...)
		if err != nil {
			return fmt.Errorf("list users: %w", err)
		}
		var out []userCreds
		var errs []error
		for _, d := range desc.Sorted() {
			u := userCreds{User: d.User, Mechanisms: []string{}, Iterations: []int32{}}
			if d.Err != nil {
				u.Error = errText(d.Err, d.ErrMessage)
				errs = append(errs, fmt.Errorf("%s: %s", d.User, u.Error))
			}
			sort.Slice(d.CredInfos, func(i, j int) bool { return d.CredInfos[i].Mechanism < d.CredInfos[j].Mechanism })
			for _, ci := range d.CredInfos {
				u.Mechanisms = append(u.Mechanisms, ci.Mechanism.String())
				u.Iterations = append(u.Iterations, ci.Iterations)
			}
			out = append(out, u)
		}
		err = printOut(stdout, cf.output, out, func(w io.Writer) error {
			tw := table(w)
			fmt.Fprintln(tw, "USER\tMECHANISMS\tITERATIONS")
			for _, u := range out {
				its := make([]string, len(u.Iterations))
				for i, n := range u.Iterations {
					its[i] = fmt.Sprint(n)
				}
				mech := strings.Join(u.Mechanisms, ",")
				if u.Error != "" {
					mech = u.Error
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\n", u.User, mech, strings.Join(its, ","))
			}
			return tw.Flush()
		})
		return errors.Join(append([]error{err}, errs...)...)
	}
}
