package main

// sluice configs describe|alter: dynamic broker configs (Kafka's
// kafka-configs.sh --entity-type brokers), with kadm: the cluster-wide
// default (no --broker) or one node's (--broker ID), e.g. the replication
// throttles leader./follower.replication.throttled.rate.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strconv"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(&command{
		name:    "configs",
		summary: "describe and alter dynamic broker configs (cluster-wide or one node's)",
		usage: "configs describe [--broker ID] [--all] |\n" +
			"       configs alter [--broker ID] [--set KEY=VALUE]… [--delete KEY]…",
		flags: configsFlags,
	})
}

// configRow is one config of `configs describe`.
type configRow struct {
	Key    string `json:"key"`
	Value  string `json:"value"`
	Source string `json:"source"`
}

// brokerStatus is the outcome of `configs alter`.
type brokerStatus struct {
	Broker string `json:"broker"` // "" for the cluster-wide default
	Status string `json:"status"`
}

func configsFlags(fs *flag.FlagSet) func(args []string, stdout, stderr io.Writer) int {
	cf := addClientFlags(fs)
	broker := fs.Int("broker", -1, "a node id: that node's dynamic configs (default: the cluster-wide default, resource \"\")")
	all := fs.Bool("all", false, "describe: every config the broker reports, not only the dynamic ones")
	set := keyValues{}
	fs.Var(set, "set", "alter: set a dynamic broker config KEY=VALUE (repeatable)")
	var del []string
	fs.Func("delete", "alter: remove a dynamic broker config KEY (repeatable)", func(k string) error {
		del = append(del, k)
		return nil
	})
	return func(args []string, stdout, stderr io.Writer) int {
		args, err := parseInterspersed(fs, args)
		if err != nil {
			return flagError(stderr, "configs", err)
		}
		if len(args) != 1 || args[0] != "describe" && args[0] != "alter" {
			return exit(stderr, "configs", usagef("want: sluice configs describe|alter"))
		}
		var brokers []int32
		if *broker >= 0 {
			brokers = append(brokers, int32(*broker))
		}
		adm, err := cf.admin()
		if err != nil {
			return exit(stderr, "configs", err)
		}
		defer adm.Close()
		ctx, cancel := context.WithTimeout(context.Background(), cf.timeout)
		defer cancel()
		if args[0] == "describe" {
			return exit(stderr, "configs describe", describeBrokerConfigs(ctx, adm, cf, brokers, *all, stdout))
		}
		return exit(stderr, "configs alter", alterBrokerConfigs(ctx, adm, cf, brokers, set, del, stdout))
	}
}

// describeBrokerConfigs prints the dynamic configs (all with all) of the
// broker resource.
func describeBrokerConfigs(ctx context.Context, adm *kadm.Client, cf *clientFlags, brokers []int32, all bool, stdout io.Writer) error {
	resp, err := adm.DescribeBrokerConfigs(ctx, brokers...)
	if err != nil {
		return fmt.Errorf("describe configs: %w", err)
	}
	rows := []configRow{}
	for _, rc := range resp {
		if rc.Err != nil {
			return errors.New(errText(rc.Err, rc.ErrMessage))
		}
		for _, c := range rc.Configs {
			dynamic := c.Source == kmsg.ConfigSourceDynamicBrokerConfig || c.Source == kmsg.ConfigSourceDynamicDefaultBrokerConfig
			if !all && !dynamic {
				continue
			}
			v := "(null)"
			switch {
			case c.Sensitive:
				v = "(sensitive)"
			case c.Value != nil:
				v = *c.Value
			}
			rows = append(rows, configRow{Key: c.Key, Value: v, Source: c.Source.String()})
		}
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Key < rows[j].Key })
	return printOut(stdout, cf.output, rows, func(w io.Writer) error {
		tw := table(w)
		fmt.Fprintln(tw, "KEY\tVALUE\tSOURCE")
		for _, r := range rows {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Key, r.Value, r.Source)
		}
		return tw.Flush()
	})
}

// alterBrokerConfigs sets and deletes dynamic configs of the broker
// resource (IncrementalAlterConfigs).
func alterBrokerConfigs(ctx context.Context, adm *kadm.Client, cf *clientFlags, brokers []int32, set keyValues, del []string, stdout io.Writer) error {
	alter, err := alterOps(set, del)
	if err != nil {
		return err
	}
	resp, err := adm.AlterBrokerConfigs(ctx, alter, brokers...)
	if err != nil {
		return fmt.Errorf("alter configs: %w", err)
	}
	var st []brokerStatus
	var errs []error
	for _, r := range resp {
		s := brokerStatus{Broker: r.Name, Status: errText(r.Err, r.ErrMessage)}
		if s.Status == "" {
			s.Status = "OK"
		} else {
			errs = append(errs, fmt.Errorf("broker %q: %s", r.Name, s.Status))
		}
		st = append(st, s)
	}
	if err := printOut(stdout, cf.output, st, func(w io.Writer) error {
		tw := table(w)
		fmt.Fprintln(tw, "BROKER\tSTATUS")
		for _, s := range st {
			name := s.Broker
			if name == "" {
				name = "(cluster default)"
			} else if _, err := strconv.Atoi(name); err != nil {
				name = strconv.Quote(name)
			}
			fmt.Fprintf(tw, "%s\t%s\n", name, s.Status)
		}
		return tw.Flush()
	}); err != nil {
		return err
	}
	return errors.Join(errs...)
}

// alterOps turns --set and --delete into IncrementalAlterConfigs
// operations, sorted by name; a usage error when both are empty.
func alterOps(set keyValues, del []string) ([]kadm.AlterConfig, error) {
	if len(set)+len(del) == 0 {
		return nil, usagef("nothing to alter: give --set KEY=VALUE or --delete KEY")
	}
	var alter []kadm.AlterConfig
	for k, v := range set {
		alter = append(alter, kadm.AlterConfig{Op: kadm.SetConfig, Name: k, Value: v})
	}
	for _, k := range del {
		alter = append(alter, kadm.AlterConfig{Op: kadm.DeleteConfig, Name: k})
	}
	sort.Slice(alter, func(i, j int) bool { return alter[i].Name < alter[j].Name })
	return alter, nil
}
