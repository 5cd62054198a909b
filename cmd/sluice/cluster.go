package main

// sluice cluster info (balance is balance.go): the cluster id, the controller, the brokers with
// their state, the controller quorum with each voter's lag (as
// kafka-metadata-quorum.sh describe --status --replication) and the API
// versions the brokers serve (as rpk cluster info plus
// kafka-broker-api-versions.sh).
//
// sluice cluster remove-broker N: unregister broker N, gone for good
// (UnregisterBroker, as kafka-cluster.sh unregister --id N); refused while
// it is alive.

import (
	"context"
	"flag"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(&command{
		name:    "cluster",
		summary: "cluster id, controller, brokers, quorum and API versions; balance replicas and leaders; remove a broker gone for good",
		usage:   "cluster info|balance [--execute [--wait]] [--save-plan FILE] [--output table|json|yaml] | cluster remove-broker ID",
		more:    clusterSubList,
		flags:   clusterFlags,
	})
}

type clusterInfo struct {
	ClusterID   string       `json:"cluster_id"`
	Controller  int32        `json:"controller"`
	Brokers     []brokerRow  `json:"brokers"`
	Quorum      *quorumInfo  `json:"quorum"`                 // nil: not served, or unavailable
	QuorumError string       `json:"quorum_error,omitempty"` // why the quorum is unavailable
	APIVersions []apiVersion `json:"api_versions"`
}

// brokerRow is one broker. State is "alive" for a broker that Metadata
// lists (registered and unfenced), "fenced" for a quorum voter it does not
// list (stopped, or cut off past its session timeout).
type brokerRow struct {
	ID    int32   `json:"id"`
	State string  `json:"state"`
	Host  string  `json:"host"`
	Port  int32   `json:"port"`
	Rack  *string `json:"rack"`
}

// quorumInfo is DescribeQuorum's answer for the metadata log. Offsets are
// the quorum's log offsets (Raft indexes in Sluice).
type quorumInfo struct {
	Leader        int32         `json:"leader"`
	Epoch         int32         `json:"epoch"`
	HighWatermark int64         `json:"high_watermark"`
	Replicas      []quorumState `json:"replicas"` // voters, then observers
}

type quorumState struct {
	ID           int32  `json:"id"`
	Role         string `json:"role"` // leader, follower or observer
	LogEndOffset int64  `json:"log_end_offset"`
	Lag          int64  `json:"lag"`           // the leader's log end offset minus this one; -1 unknown
	LastFetchMs  int64  `json:"last_fetch_ms"` // wall clock (ms) when the leader last heard from it; -1 unknown or the leader
}

type apiVersion struct {
	Broker int32  `json:"broker"`
	Key    int16  `json:"key"`
	API    string `json:"api"`
	Min    int16  `json:"min"`
	Max    int16  `json:"max"`
}

// clusterSubList lists the subcommands of `sluice cluster`.
func clusterSubList(w io.Writer) {
	fmt.Fprintln(w, "subcommands:")
	fmt.Fprintf(w, "  %-13s %s\n", "info", "cluster id, controller, brokers, the controller quorum and the API versions served")
	fmt.Fprintf(w, "  %-13s %s\n", "balance", "plan moves that even out each broker's replicas (by bytes) and preferred leaders; --execute applies them")
	fmt.Fprintf(w, "  %-13s %s\n", "remove-broker", "unregister a stopped broker gone for good (UnregisterBroker) and its Raft non-voter")
}

func clusterFlags(fs *flag.FlagSet) func(args []string, stdout, stderr io.Writer) int {
	cf := addClientFlags(fs)
	execute := fs.Bool("execute", false, "balance: apply the plan (AlterPartitionReassignments)")
	wait := fs.Bool("wait", false, "balance --execute: wait (up to --request-timeout) until the moves complete")
	savePlan := fs.String("save-plan", "", "balance: write the plan as kafka-reassign-partitions JSON to `FILE` (for sluice topics reassign --plan)")
	return func(args []string, stdout, stderr io.Writer) int {
		pos, err := parseInterspersed(fs, args)
		if err != nil {
			return flagError(stderr, "cluster", err)
		}
		if len(pos) == 2 && pos[0] == "remove-broker" {
			return removeBroker(cf, pos[1], stdout, stderr)
		}
		if len(pos) == 1 && pos[0] == "balance" {
			return exit(stderr, "cluster balance", clusterBalance(cf, *execute, *wait, *savePlan, stdout))
		}
		if len(pos) != 1 || pos[0] != "info" {
			return exit(stderr, "cluster", usagef("want: sluice cluster info|balance, or sluice cluster remove-broker ID"))
		}
		if *execute || *wait || *savePlan != "" {
			return exit(stderr, "cluster info", usagef("--execute, --wait and --save-plan are balance's flags"))
		}
		info, err := readClusterInfo(cf)
		if err != nil {
			return exit(stderr, "cluster info", err)
		}
		return exit(stderr, "cluster info", printOut(stdout, cf.output, info, func(w io.Writer) error { return printClusterInfo(w, info) }))
	}
}

func readClusterInfo(cf *clientFlags) (*clusterInfo, error) {
	cl, err := cf.client()
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	adm.SetTimeoutMillis(int32(cf.timeout.Milliseconds()))
	ctx, cancel := context.WithTimeout(context.Background(), cf.timeout)
	defer cancel()
	md, err := adm.BrokerMetadata(ctx)
	if err != nil {
		return nil, fmt.Errorf("cannot read metadata: %w", err)
	}
	info := &clusterInfo{ClusterID: md.Cluster, Controller: md.Controller, Brokers: []brokerRow{}, APIVersions: []apiVersion{}}
	for _, b := range md.Brokers {
		info.Brokers = append(info.Brokers, brokerRow{b.NodeID, "alive", b.Host, b.Port, b.Rack})
	}
	sort.Slice(info.Brokers, func(i, j int) bool { return info.Brokers[i].ID < info.Brokers[j].ID })
	vs, err := adm.ApiVersions(ctx)
	if err != nil {
		return nil, fmt.Errorf("cannot read API versions: %w", err)
	}
	for _, v := range vs.Sorted() {
		if v.Err != nil {
			return nil, fmt.Errorf("API versions of broker %d: %w", v.NodeID, v.Err)
		}
		for _, k := range v.Raw().ApiKeys {
			info.APIVersions = append(info.APIVersions, apiVersion{v.NodeID, k.ApiKey, kmsg.NameForKey(k.ApiKey), k.MinVersion, k.MaxVersion})
		}
	}
	if slices.ContainsFunc(info.APIVersions, func(v apiVersion) bool { return v.Key == describeQuorumKey }) {
		if info.Quorum, err = readQuorum(ctx, cl); err != nil {
			info.QuorumError = err.Error() // the brokers are still worth showing
		}
		info.Brokers = addFencedVoters(info.Brokers, info.Quorum)
	}
	return info, nil
}

const describeQuorumKey = 55

// readQuorum asks for the metadata log's quorum (brokers that serve
// DescribeQuorum only).
func readQuorum(ctx context.Context, cl *kgo.Client) (*quorumInfo, error) {
	req := kmsg.NewPtrDescribeQuorumRequest()
	t := kmsg.NewDescribeQuorumRequestTopic()
	t.Topic = "__cluster_metadata"
	t.Partitions = []kmsg.DescribeQuorumRequestTopicPartition{kmsg.NewDescribeQuorumRequestTopicPartition()}
	req.Topics = []kmsg.DescribeQuorumRequestTopic{t}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return nil, fmt.Errorf("cannot describe the controller quorum: %w", err)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return nil, fmt.Errorf("cannot describe the controller quorum: %w", err)
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return nil, fmt.Errorf("cannot describe the controller quorum: %d topics in the answer", len(resp.Topics))
	}
	p := resp.Topics[0].Partitions[0]
	if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
		return nil, fmt.Errorf("cannot describe the controller quorum: %w", err)
	}
	q := &quorumInfo{Leader: p.LeaderID, Epoch: p.LeaderEpoch, HighWatermark: p.HighWatermark, Replicas: []quorumState{}}
	leaderEnd := int64(-1)
	for _, v := range p.CurrentVoters {
		if v.ReplicaID == p.LeaderID {
			leaderEnd = v.LogEndOffset
		}
	}
	add := func(states []kmsg.DescribeQuorumResponseTopicPartitionReplicaState, role func(int32) string) {
		for _, s := range states {
			lag := int64(-1)
			if s.LogEndOffset >= 0 && leaderEnd >= 0 {
				lag = max(leaderEnd-s.LogEndOffset, 0)
			}
			q.Replicas = append(q.Replicas, quorumState{s.ReplicaID, role(s.ReplicaID), s.LogEndOffset, lag, s.LastFetchTimestamp})
		}
	}
	add(p.CurrentVoters, func(id int32) string {
		if id == p.LeaderID {
			return "leader"
		}
		return "follower"
	})
	add(p.Observers, func(int32) string { return "observer" })
	return q, nil
}

// addFencedVoters adds the quorum's voters that Metadata does not list:
// in a cluster of combined nodes each voter is also a broker.
func addFencedVoters(brokers []brokerRow, q *quorumInfo) []brokerRow {
	if q == nil {
		return brokers
	}
	for _, r := range q.Replicas {
		if r.Role == "observer" || slices.ContainsFunc(brokers, func(b brokerRow) bool { return b.ID == r.ID }) {
			continue
		}
		brokers = append(brokers, brokerRow{ID: r.ID, State: "fenced", Host: "-", Port: -1})
	}
	sort.Slice(brokers, func(i, j int) bool { return brokers[i].ID < brokers[j].ID })
	return brokers
}

func printClusterInfo(w io.Writer, info *clusterInfo) error {
	tw := table(w)
	fmt.Fprintf(tw, "CLUSTER-ID\t%s\nCONTROLLER\t%d\n", info.ClusterID, info.Controller)
	tw.Flush()
	fmt.Fprintln(w)
	tw = table(w)
	fmt.Fprintln(tw, "ID\tSTATE\tHOST\tPORT\tRACK")
	for _, b := range info.Brokers {
		rack := "-"
		if b.Rack != nil {
			rack = *b.Rack
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%s\n", b.ID, b.State, b.Host, b.Port, rack)
	}
	tw.Flush()
	fmt.Fprintln(w)
	if q := info.Quorum; q != nil {
		printQuorum(w, q)
	} else if info.QuorumError != "" {
		fmt.Fprintf(w, "QUORUM unavailable: %s\n\n", info.QuorumError)
	}
	tw = table(w)
	fmt.Fprintln(tw, "BROKER\tKEY\tAPI\tMIN\tMAX")
	for _, v := range info.APIVersions {
		fmt.Fprintf(tw, "%d\t%d\t%s\t%d\t%d\n", v.Broker, v.Key, v.API, v.Min, v.Max)
	}
	return tw.Flush()
}

func printQuorum(w io.Writer, q *quorumInfo) {
	tw := table(w)
	fmt.Fprintf(tw, "QUORUM-LEADER\t%d\nQUORUM-EPOCH\t%d\nHIGH-WATERMARK\t%d\n", q.Leader, q.Epoch, q.HighWatermark)
	tw.Flush()
	fmt.Fprintln(w)
	tw = table(w)
	fmt.Fprintln(tw, "NODE\tROLE\tLOG-END-OFFSET\tLAG\tLAST-FETCH")
	unknown := func(n int64) string {
		if n < 0 {
			return "-"
		}
		return strconv.FormatInt(n, 10)
	}
	for _, r := range q.Replicas {
		last := "-"
		if r.LastFetchMs >= 0 {
			last = time.UnixMilli(r.LastFetchMs).UTC().Format("15:04:05.000")
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", r.ID, r.Role, unknown(r.LogEndOffset), unknown(r.Lag), last)
	}
	tw.Flush()
	fmt.Fprintln(w)
}

// removedBroker is remove-broker's answer.
type removedBroker struct {
	Broker int32  `json:"broker"`
	Status string `json:"status"` // OK, or the error
}

// removeBroker sends UnregisterBroker for the broker id in arg (the
// client routes it to the controller Metadata names, which forwards it
// to the active controller).
func removeBroker(cf *clientFlags, arg string, stdout, stderr io.Writer) int {
	const name = "cluster remove-broker"
	id, err := strconv.ParseInt(arg, 10, 32)
	if err != nil || id < 0 {
		return exit(stderr, name, usagef("broker id %q is not a non-negative integer", arg))
	}
	cl, err := cf.client()
	if err != nil {
		return exit(stderr, name, err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), cf.timeout)
	defer cancel()
	req := kmsg.NewPtrUnregisterBrokerRequest()
	req.BrokerID = int32(id)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return exit(stderr, name, fmt.Errorf("cannot unregister broker %d: %w", id, err))
	}
	out := removedBroker{Broker: int32(id), Status: "OK"}
	rerr := kerr.ErrorForCode(resp.ErrorCode)
	if rerr != nil {
		msg := ""
		if resp.ErrorMessage != nil {
			msg = *resp.ErrorMessage
		}
		out.Status = errText(rerr, msg)
	}
	if err := printOut(stdout, cf.output, out, func(w io.Writer) error {
		if rerr != nil {
			return nil // the error goes to stderr alone
		}
		_, err := fmt.Fprintf(w, "broker %d unregistered\n", id)
		return err
	}); err != nil {
		return exit(stderr, name, err)
	}
	if rerr != nil {
		return exit(stderr, name, fmt.Errorf("broker %d: %s", id, out.Status))
	}
	return 0
}
