package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// sluice transactions: Kafka's kafka-transactions.sh for the common cases,
// through franz-go's kadm.
//
//	sluice transactions list [--state S,…]
//	sluice transactions describe TRANSACTIONAL-ID
//	sluice transactions describe-producers --topic T --partition P
//	sluice transactions find-hanging [--max-transaction-timeout MINUTES]
//	sluice transactions abort --topic T --partition P (--start-offset N | --producer-id ID --producer-epoch E --coordinator-epoch C)

func init() {
	register(&command{
		name:    "transactions",
		summary: "list, describe, find and abort (hanging) transactions",
		usage: "transactions [--brokers B] list [--state S,...] | describe ID | describe-producers --topic T --partition P |\n" +
			"       find-hanging [--max-transaction-timeout M] |\n" +
			"       abort --topic T --partition P (--start-offset N | --producer-id ID --producer-epoch E --coordinator-epoch C)",
		flags: txnFlags,
		more:  txnSubList,
	})
}

func txnSubList(w io.Writer) {
	fmt.Fprint(w, `subcommands:
  list                transactional ids with their producer id and state
  describe ID         one transactional id: producer, state, timeout, start, partitions
  describe-producers  the producers a partition tracks, with their open transaction's first offset
  find-hanging        open transactions on partitions older than --max-transaction-timeout
  abort               write an ABORT marker for a partition's open transaction (a hanging one)
`)
}

// txnOpts are the flags of every transactions subcommand.
type txnOpts struct {
	*clientFlags
	states           string
	topic            string
	partition        int
	startOffset      int64
	producerID       int64
	producerEpoch    int
	coordinatorEpoch int
	maxTimeout       int
}

func (o *txnOpts) register(fs *flag.FlagSet) {
	o.clientFlags = addClientFlags(fs)
	fs.StringVar(&o.states, "state", "", "list: only these comma-separated states (Empty, Ongoing, PrepareCommit, …)")
	fs.StringVar(&o.topic, "topic", "", "describe-producers, abort, find-hanging: the topic")
	fs.IntVar(&o.partition, "partition", -1, "describe-producers, abort, find-hanging: the partition")
	fs.Int64Var(&o.startOffset, "start-offset", -1, "abort: the first offset of the transaction to abort (found with describe-producers)")
	fs.Int64Var(&o.producerID, "producer-id", -1, "abort: the transaction's producer id (with --producer-epoch and --coordinator-epoch)")
	fs.IntVar(&o.producerEpoch, "producer-epoch", -1, "abort: the transaction's producer epoch")
	fs.IntVar(&o.coordinatorEpoch, "coordinator-epoch", -1, "abort: the coordinator epoch of the marker")
	fs.IntVar(&o.maxTimeout, "max-transaction-timeout", 15, "find-hanging: minutes (transaction.max.timeout.ms) after which an open transaction counts as hanging")
}

func txnFlags(fs *flag.FlagSet) func(args []string, stdout, stderr io.Writer) int {
	var o txnOpts
	o.register(fs)
	return func(args []string, stdout, stderr io.Writer) int {
		err := runTxn(fs, &o, args, stdout)
		if errors.Is(err, flag.ErrHelp) {
			return codeHelp
		}
		var fe flagErr
		if errors.As(err, &fe) {
			return flagError(stderr, "transactions", fe.error)
		}
		return exit(stderr, "transactions", err)
	}
}

type txnRun func(ctx context.Context, adm *kadm.Client, o *txnOpts, args []string, w io.Writer) error

// txnSubcommand returns the subcommand and its argument count.
func txnSubcommand(name string) (txnRun, int) {
	switch name {
	case "list":
		return txnList, 0
	case "describe":
		return txnDescribe, 1
	case "describe-producers":
		return txnDescribeProducers, 0
	case "find-hanging":
		return txnFindHanging, 0
	case "abort":
		return txnAbort, 0
	}
	return nil, 0
}

func runTxn(fs *flag.FlagSet, o *txnOpts, args []string, stdout io.Writer) error {
	args, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	if err != nil {
		return flagErr{err}
	}
	if len(args) == 0 {
		return usagef("no subcommand (list, describe, describe-producers, find-hanging, abort)")
	}
	sub, rest := args[0], args[1:]
	run, want := txnSubcommand(sub)
	if run == nil {
		return usagef("unknown subcommand %q", sub)
	}
	if len(rest) != want {
		return usagef("%s: want %d argument(s), got %d", sub, want, len(rest))
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	adm, err := o.admin()
	if err != nil {
		return err
	}
	defer adm.Close()
	if err := run(ctx, adm, o, rest, stdout); err != nil {
		return fmt.Errorf("%s: %w", sub, err)
	}
	return nil
}

// txnRow is one row of `transactions list`.
type txnRow struct {
	TransactionalID  string `json:"transactional_id"`
	Coordinator      int32  `json:"coordinator"`
	ProducerID       int64  `json:"producer_id"`
	TransactionState string `json:"transaction_state"`
}

func txnList(ctx context.Context, adm *kadm.Client, o *txnOpts, _ []string, w io.Writer) error {
	var states []string
	if o.states != "" {
		states = strings.Split(o.states, ",")
	}
	ls, err := adm.ListTransactions(ctx, nil, states)
	if err != nil {
		return fmt.Errorf("cannot list transactions: %w", err)
	}
	rows := []txnRow{}
	for _, l := range ls.Sorted() {
		rows = append(rows, txnRow{l.TxnID, l.Coordinator, l.ProducerID, l.State})
	}
	return printOut(w, o.output, rows, func(w io.Writer) error {
		tw := table(w)
		fmt.Fprintln(tw, "TransactionalId\tCoordinator\tProducerId\tTransactionState")
		for _, r := range rows {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%s\n", r.TransactionalID, r.Coordinator, r.ProducerID, r.TransactionState)
		}
		return tw.Flush()
	})
}

// txnDescription is `transactions describe`'s output.
type txnDescription struct {
	CoordinatorID                 int32    `json:"coordinator_id"`
	TransactionalID               string   `json:"transactional_id"`
	ProducerID                    int64    `json:"producer_id"`
	ProducerEpoch                 int16    `json:"producer_epoch"`
	TransactionState              string   `json:"transaction_state"`
	TransactionTimeoutMs          int32    `json:"transaction_timeout_ms"`
	CurrentTransactionStartTimeMs *int64   `json:"current_transaction_start_time_ms"`
	TransactionDurationMs         *int64   `json:"transaction_duration_ms"`
	TopicPartitions               []string `json:"topic_partitions"`
}

func txnDescribe(ctx context.Context, adm *kadm.Client, o *txnOpts, args []string, w io.Writer) error {
	ds, err := adm.DescribeTransactions(ctx, args[0])
	if err != nil {
		return fmt.Errorf("cannot describe %q: %w", args[0], err)
	}
	d, ok := ds[args[0]]
	if !ok {
		return fmt.Errorf("transactional id %q: no answer", args[0])
	}
	if d.Err != nil {
		return fmt.Errorf("transactional id %q: %w", args[0], d.Err)
	}
	out := txnDescription{CoordinatorID: d.Coordinator, TransactionalID: d.TxnID, ProducerID: d.ProducerID,
		ProducerEpoch: d.ProducerEpoch, TransactionState: d.State, TransactionTimeoutMs: d.TimeoutMillis,
		TopicPartitions: []string{}}
	if d.StartTimestamp >= 0 {
		start, dur := d.StartTimestamp, time.Now().UnixMilli()-d.StartTimestamp
		out.CurrentTransactionStartTimeMs, out.TransactionDurationMs = &start, &dur
	}
	for _, tp := range d.Topics.Sorted() {
		for _, p := range tp.Partitions {
			out.TopicPartitions = append(out.TopicPartitions, fmt.Sprintf("%s-%d", tp.Topic, p))
		}
	}
	return printOut(w, o.output, out, func(w io.Writer) error {
		tw := table(w)
		fmt.Fprintln(tw, "CoordinatorId\tTransactionalId\tProducerId\tProducerEpoch\tTransactionState\tTransactionTimeoutMs\tCurrentTransactionStartTimeMs\tTransactionDurationMs\tTopicPartitions")
		start, dur := "None", "None"
		if out.CurrentTransactionStartTimeMs != nil {
			start, dur = fmt.Sprint(*out.CurrentTransactionStartTimeMs), fmt.Sprint(*out.TransactionDurationMs)
		}
		fmt.Fprintf(tw, "%d\t%s\t%d\t%d\t%s\t%d\t%s\t%s\t%s\n", out.CoordinatorID, out.TransactionalID, out.ProducerID,
			out.ProducerEpoch, out.TransactionState, out.TransactionTimeoutMs, start, dur, strings.Join(out.TopicPartitions, ","))
		return tw.Flush()
	})
}

// producerRow is one row of `transactions describe-producers` (and of
// find-hanging, with the topic and partition).
type producerRow struct {
	Topic                         string `json:"topic"`
	Partition                     int32  `json:"partition"`
	ProducerID                    int64  `json:"producer_id"`
	ProducerEpoch                 int16  `json:"producer_epoch"`
	LatestCoordinatorEpoch        int32  `json:"latest_coordinator_epoch"`
	LastSequence                  int32  `json:"last_sequence"`
	LastTimestamp                 int64  `json:"last_timestamp"`
	CurrentTransactionStartOffset int64  `json:"current_transaction_start_offset"`
}

// producers describes the producers of topic (one partition, or all with
// p < 0), sorted.
func producers(ctx context.Context, adm *kadm.Client, topic string, p int32) ([]producerRow, error) {
	set := kadm.TopicsSet{}
	if p >= 0 {
		set.Add(topic, p)
	} else {
		md, err := adm.Metadata(ctx, topic)
		if err != nil {
			return nil, fmt.Errorf("cannot load metadata of %q: %w", topic, err)
		}
		for _, mp := range md.Topics[topic].Partitions.Sorted() {
			set.Add(topic, mp.Partition)
		}
	}
	ds, err := adm.DescribeProducers(ctx, set)
	if err != nil {
		return nil, fmt.Errorf("cannot describe producers: %w", err)
	}
	rows := []producerRow{}
	for _, dp := range ds.SortedPartitions() {
		if dp.Err != nil {
			return nil, fmt.Errorf("%s-%d: %w", dp.Topic, dp.Partition, dp.Err)
		}
		for _, pr := range dp.ActiveProducers.Sorted() {
			rows = append(rows, producerRow{pr.Topic, pr.Partition, pr.ProducerID, pr.ProducerEpoch, pr.CoordinatorEpoch,
				pr.LastSequence, pr.LastTimestamp, pr.CurrentTxnStartOffset})
		}
	}
	return rows, nil
}

func printProducers(w io.Writer, o *txnOpts, rows []producerRow) error {
	return printOut(w, o.output, rows, func(w io.Writer) error {
		tw := table(w)
		fmt.Fprintln(tw, "Topic\tPartition\tProducerId\tProducerEpoch\tLatestCoordinatorEpoch\tLastSequence\tLastTimestamp\tCurrentTransactionStartOffset")
		for _, r := range rows {
			start := "None"
			if r.CurrentTransactionStartOffset >= 0 {
				start = fmt.Sprint(r.CurrentTransactionStartOffset)
			}
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\n", r.Topic, r.Partition, r.ProducerID, r.ProducerEpoch,
				r.LatestCoordinatorEpoch, r.LastSequence, r.LastTimestamp, start)
		}
		return tw.Flush()
	})
}

func txnDescribeProducers(ctx context.Context, adm *kadm.Client, o *txnOpts, _ []string, w io.Writer) error {
	if o.topic == "" || o.partition < 0 {
		return usagef("describe-producers needs --topic and --partition")
	}
	rows, err := producers(ctx, adm, o.topic, int32(o.partition))
	if err != nil {
		return err
	}
	return printProducers(w, o, rows)
}

// txnFindHanging lists the open transactions on the partitions of --topic
// (every partition, or --partition) that began more than
// --max-transaction-timeout minutes ago (by their last write): their
// producer's transaction timeout should have aborted them.
func txnFindHanging(ctx context.Context, adm *kadm.Client, o *txnOpts, _ []string, w io.Writer) error {
	if o.topic == "" {
		return usagef("find-hanging needs --topic")
	}
	rows, err := producers(ctx, adm, o.topic, int32(o.partition))
	if err != nil {
		return err
	}
	cutoff := time.Now().Add(-time.Duration(o.maxTimeout) * time.Minute).UnixMilli()
	hanging := []producerRow{}
	for _, r := range rows {
		if r.CurrentTransactionStartOffset >= 0 && r.LastTimestamp < cutoff {
			hanging = append(hanging, r)
		}
	}
	return printProducers(w, o, hanging)
}

// txnAbort writes an ABORT marker to --topic/--partition for the
// transaction starting at --start-offset (its producer found with
// DescribeProducers), or for the producer id, epoch and coordinator epoch
// given, as kafka-transactions.sh abort does.
func txnAbort(ctx context.Context, adm *kadm.Client, o *txnOpts, _ []string, w io.Writer) error {
	if o.topic == "" || o.partition < 0 {
		return usagef("abort needs --topic and --partition")
	}
	m := kadm.TxnMarkers{ProducerID: o.producerID, ProducerEpoch: int16(o.producerEpoch),
		CoordinatorEpoch: int32(o.coordinatorEpoch), Topics: kadm.TopicsSet{}}
	m.Topics.Add(o.topic, int32(o.partition))
	switch {
	case o.startOffset >= 0:
		rows, err := producers(ctx, adm, o.topic, int32(o.partition))
		if err != nil {
			return err
		}
		found := false
		for _, r := range rows {
			if r.CurrentTransactionStartOffset == o.startOffset {
				m.ProducerID, m.ProducerEpoch, m.CoordinatorEpoch, found = r.ProducerID, r.ProducerEpoch, r.LatestCoordinatorEpoch, true
			}
		}
		if !found {
			return fmt.Errorf("no open transaction starts at offset %d of %s-%d", o.startOffset, o.topic, o.partition)
		}
	case o.producerID < 0 || o.producerEpoch < 0 || o.coordinatorEpoch < 0:
		return usagef("abort needs --start-offset, or --producer-id, --producer-epoch and --coordinator-epoch")
	}
	resp, err := adm.WriteTxnMarkers(ctx, m)
	if err != nil {
		return fmt.Errorf("cannot write the ABORT marker: %w", err)
	}
	for _, r := range resp {
		for _, ts := range r.Topics {
			for _, p := range ts.Partitions {
				if p.Err != nil {
					return fmt.Errorf("%s-%d: %w", p.Topic, p.Partition, p.Err)
				}
			}
		}
	}
	fmt.Fprintf(w, "aborted the transaction of producer %d (epoch %d) on %s-%d\n", m.ProducerID, m.ProducerEpoch, o.topic, o.partition)
	return nil
}
