package main

// sluice cluster info: the cluster id, the controller, the brokers and the
// API versions they serve (as rpk cluster info plus kafka-broker-api-versions.sh).

import (
	"context"
	"flag"
	"fmt"
	"io"
	"sort"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(&command{
		name:    "cluster",
		summary: "cluster id, controller, brokers and the API versions they serve",
		usage:   "cluster info [--output table|json|yaml]",
		flags:   clusterFlags,
	})
}

type clusterInfo struct {
	ClusterID   string       `json:"cluster_id"`
	Controller  int32        `json:"controller"`
	Brokers     []brokerRow  `json:"brokers"`
	APIVersions []apiVersion `json:"api_versions"`
}

type brokerRow struct {
	ID   int32   `json:"id"`
	Host string  `json:"host"`
	Port int32   `json:"port"`
	Rack *string `json:"rack"`
}

type apiVersion struct {
	Broker int32  `json:"broker"`
	Key    int16  `json:"key"`
	API    string `json:"api"`
	Min    int16  `json:"min"`
	Max    int16  `json:"max"`
}

func clusterFlags(fs *flag.FlagSet) func(args []string, stdout, stderr io.Writer) int {
	cf := addClientFlags(fs)
	return func(args []string, stdout, stderr io.Writer) int {
		pos, err := parseInterspersed(fs, args)
		if err != nil {
			return flagError(stderr, "cluster", err)
		}
		if len(pos) != 1 || pos[0] != "info" {
			return exit(stderr, "cluster", usagef("want: sluice cluster info"))
		}
		info, err := readClusterInfo(cf)
		if err != nil {
			return exit(stderr, "cluster info", err)
		}
		return exit(stderr, "cluster info", printOut(stdout, cf.output, info, func(w io.Writer) error { return printClusterInfo(w, info) }))
	}
}

func readClusterInfo(cf *clientFlags) (*clusterInfo, error) {
	adm, err := cf.admin()
	if err != nil {
		return nil, err
	}
	defer adm.Close()
	ctx, cancel := context.WithTimeout(context.Background(), cf.timeout)
	defer cancel()
	md, err := adm.BrokerMetadata(ctx)
	if err != nil {
		return nil, fmt.Errorf("cannot read metadata: %w", err)
	}
	info := &clusterInfo{ClusterID: md.Cluster, Controller: md.Controller, Brokers: []brokerRow{}, APIVersions: []apiVersion{}}
	for _, b := range md.Brokers {
		info.Brokers = append(info.Brokers, brokerRow{b.NodeID, b.Host, b.Port, b.Rack})
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
	return info, nil
}

func printClusterInfo(w io.Writer, info *clusterInfo) error {
	tw := table(w)
	fmt.Fprintf(tw, "CLUSTER-ID\t%s\nCONTROLLER\t%d\n", info.ClusterID, info.Controller)
	tw.Flush()
	fmt.Fprintln(w)
	tw = table(w)
	fmt.Fprintln(tw, "ID\tHOST\tPORT\tRACK")
	for _, b := range info.Brokers {
		rack := "-"
		if b.Rack != nil {
			rack = *b.Rack
		}
		fmt.Fprintf(tw, "%d\t%s\t%d\t%s\n", b.ID, b.Host, b.Port, rack)
	}
	tw.Flush()
	fmt.Fprintln(w)
	tw = table(w)
	fmt.Fprintln(tw, "BROKER\tKEY\tAPI\tMIN\tMAX")
	for _, v := range info.APIVersions {
		fmt.Fprintf(tw, "%d\t%d\t%s\t%d\t%d\n", v.Broker, v.Key, v.API, v.Min, v.Max)
	}
	return tw.Flush()
}
