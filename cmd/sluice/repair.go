package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"

	"github.com/sluice/sluice/partition"
)

func init() {
	register(&command{
		name:    "repair",
		summary: "truncate damaged partitions to their last valid batch (plans unless --execute)",
		usage:   "repair --data-dir DIR [--topic T [--partition P]] [--execute]",
		flags:   repairFlags,
	})
}

// repairFlags: sluice repair. It validates every batch of each selected
// partition (as recovery does) and reports the first invalid one: the file,
// the position where valid data ends, the offsets and bytes that truncating
// there loses. With --execute it truncates (and the next start of sluiced
// recovers the partition); without, it changes nothing. It takes the data
// directory's lock, so it refuses to run while sluiced holds it. Exit
// status: 0 nothing damaged or all repaired, 1 damage found by a plan or an
// error, 2 usage.
func repairFlags(fs *flag.FlagSet) func(args []string, stdout, stderr io.Writer) int {
	var o partition.RepairOptions
	partitionNum := fs.Int("partition", -1, "only this partition of --topic (default every partition)")
	fs.StringVar(&o.Dir, "data-dir", "", "the broker's data directory (required; sluiced must be stopped)")
	fs.StringVar(&o.Topic, "topic", "", "only this topic (default every topic)")
	fs.BoolVar(&o.Execute, "execute", false, "truncate for real (default: report the plan, change nothing)")
	return func(args []string, stdout, stderr io.Writer) int {
		if o.Dir == "" || len(args) > 0 || *partitionNum >= 0 && o.Topic == "" {
			fmt.Fprintln(stderr, "sluice repair: --data-dir is required; --partition needs --topic")
			fs.Usage()
			return 2
		}
		o.Partition = int32(*partitionNum)
		o.Logger = slog.New(slog.NewTextHandler(stderr, nil))
		reports, err := partition.Repair(o)
		damaged := printRepair(stdout, reports, o.Execute)
		if err != nil {
			fmt.Fprintf(stderr, "sluice repair: %v\n", err)
			return 1
		}
		if damaged > 0 && !o.Execute {
			fmt.Fprintf(stdout, "%d partition(s) damaged; run again with --execute to truncate them\n", damaged)
			return 1
		}
		return 0
	}
}

// printRepair prints one line per damaged partition and a summary; it
// returns how many were damaged.
func printRepair(w io.Writer, reports []partition.RepairReport, execute bool) int {
	damaged := 0
	for _, r := range reports {
		if !r.Damaged {
			continue
		}
		damaged++
		verb := "would truncate"
		if r.Repaired {
			verb = "truncated"
		}
		lost := "no whole batch lost"
		if r.EndLostOffset > r.FirstLostOffset {
			lost = fmt.Sprintf("offsets %d..%d lost", r.FirstLostOffset, r.EndLostOffset-1)
		}
		fmt.Fprintf(w, "%s-%d: %s %s at position %d: %s (%d bytes, %d later segments); new log end %d\n  reason: %s\n",
			r.Topic, r.Partition, verb, r.File, r.Position, lost, r.LostBytes, r.LostSegments,
			r.FirstLostOffset, r.Reason)
	}
	fmt.Fprintf(w, "%d partition(s) checked, %d damaged", len(reports), damaged)
	if execute && damaged > 0 {
		fmt.Fprint(w, ", repaired")
	}
	fmt.Fprintln(w)
	return damaged
}
