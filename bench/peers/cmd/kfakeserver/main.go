// Command kfakeserver runs franz-go's kfake as a one-broker Kafka cluster
// on a fixed port until SIGTERM or SIGINT, so load generators can measure
// it as a separate process (its CPU time and RSS).
//
//	kfakeserver --port 9093 [--data-dir DIR] [--partitions 4]
//
// It prints `pid=… addr=…` once listening. Without --data-dir kfake keeps
// every record in memory; with it, segments are written to DIR (page
// cache, no fsync unless --sync).
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/twmb/franz-go/pkg/kfake"
)

func main() {
	port := flag.Int("port", 9093, "port to listen on (127.0.0.1; 0 picks one)")
	dataDir := flag.String("data-dir", "", "persist segments here (default: in memory)")
	sync := flag.Bool("sync", false, "fsync every batch (kfake.SyncWrites; needs --data-dir)")
	parts := flag.Int("partitions", 4, "partitions of auto-created topics")
	flag.Parse()
	if err := run(*port, *dataDir, *sync, *parts); err != nil {
		fmt.Fprintf(os.Stderr, "kfakeserver: %v\n", err)
		os.Exit(1)
	}
}

func run(port int, dataDir string, sync bool, parts int) error {
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.Ports(port),
		kfake.AllowAutoTopicCreation(),
		kfake.DefaultNumPartitions(parts),
	}
	if dataDir != "" {
		opts = append(opts, kfake.DataDir(dataDir))
		if sync {
			opts = append(opts, kfake.SyncWrites())
		}
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, os.Interrupt)
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return fmt.Errorf("cannot start kfake on port %d: %w", port, err)
	}
	fmt.Printf("pid=%d addr=%s\n", os.Getpid(), c.ListenAddrs()[0])
	<-sigs
	c.Close()
	return nil
}
