// Command kafkaserver runs Apache Kafka itself (one KRaft node, broker and
// controller) from the jars of e2e/java (internal/kafkaref), so load
// generators can measure it as a separate process like kfakeserver and
// natsserver.
//
//	kafkaserver --port 9094 --dir DIR [--lib e2e/java/lib] [--heap 1G] [--partitions 4]
//
// It writes DIR/server.properties, formats DIR/logs (kafka-storage
// format), prints `pid=… addr=…` and then execs the JVM in its place
// (-Xmx/-Xms --heap and the G1 flags of kafka-run-class.sh), so the pid
// printed is the broker's: SIGTERM stops Kafka, and CPU time and RSS
// measured on that pid are the JVM's.
//
//	kafkaserver --nodes 3 --dir DIR [--heap 512m] [--prop KEY=VALUE]
//
// starts a cluster of combined KRaft nodes instead (kafkaref.StartCluster:
// DIR/node1, node2, …, one cluster id, the same controller.quorum.voters),
// waits until every node answers ApiVersions (at most --start-timeout),
// prints `node=… pid=… addr=…` for each and then `bootstrap=…`, and stops
// them all on SIGTERM or SIGINT. Each JVM's output goes to DIR/node<i>.log.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sluice/sluice/bench/peers/internal/peerbench"
	"github.com/sluice/sluice/internal/kafkaref"
)

func main() {
	port := flag.Int("port", 9094, "PLAINTEXT port on 127.0.0.1 (0 picks one)")
	dir := flag.String("dir", "", "fresh directory for server.properties and the log dir (required)")
	lib := flag.String("lib", "", "Kafka jars (default: e2e/java/lib of the repository above the working directory, or $SLUICE_KAFKA_LIB)")
	heap := flag.String("heap", "", "JVM -Xmx and -Xms (default 1G as kafka-server-start.sh sets them; 512m each with --nodes > 1)")
	nodes := flag.Int("nodes", 1, "combined KRaft nodes; more than 1 starts a cluster on free ports (--port is ignored)")
	startTimeout := flag.Duration("start-timeout", 3*time.Minute, "--nodes > 1: how long to wait for every node to answer")
	parts := flag.Int("partitions", 4, "num.partitions (auto-created topics)")
	props := map[string]string{}
	flag.Func("prop", "an extra server.properties entry KEY=VALUE (repeatable), e.g. log.flush.interval.messages=1", func(kv string) error {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return fmt.Errorf("want KEY=VALUE, got %q", kv)
		}
		props[k] = v
		return nil
	})
	flag.Parse()
	var err error
	if *nodes > 1 {
		err = runCluster(*nodes, *dir, *lib, *heap, *parts, props, *startTimeout)
	} else {
		if *heap == "" {
			*heap = "1G"
		}
		err = run(*port, *dir, *lib, *heap, *parts, props)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "kafkaserver: %v\n", err)
		os.Exit(1)
	}
}

func libDir(lib string) (string, error) {
	if lib != "" {
		return lib, nil
	}
	root, err := peerbench.RepoRoot()
	if err != nil {
		return "", fmt.Errorf("%w: pass --lib", err)
	}
	return kafkaref.LibDir(root), nil
}

func run(port int, dir, lib, heap string, parts int, props map[string]string) error {
	if dir == "" {
		return fmt.Errorf("--dir is required")
	}
	lib, err := libDir(lib)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	props["num.partitions"] = strconv.Itoa(parts)
	plan, err := kafkaref.Prepare(ctx, kafkaref.Options{LibDir: lib, Dir: dir, Heap: heap, Port: port, Props: props})
	if err != nil {
		return err
	}
	fmt.Printf("pid=%d addr=%s\n", os.Getpid(), plan.Addr)
	argv := append([]string{plan.Java}, plan.Args...)
	if err := syscall.Exec(plan.Java, argv, os.Environ()); err != nil {
		return fmt.Errorf("cannot exec %s: %w", plan.Java, err)
	}
	return nil
}

func runCluster(nodes int, dir, lib, heap string, parts int, props map[string]string, startTimeout time.Duration) error {
	if dir == "" {
		return fmt.Errorf("--dir is required")
	}
	lib, err := libDir(lib)
	if err != nil {
		return err
	}
	props["num.partitions"] = strconv.Itoa(parts)
	var logs []*os.File
	defer func() {
		for _, f := range logs {
			f.Close()
		}
	}()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("cannot create %s: %w", dir, err)
	}
	var logErr error
	output := func(id int) io.Writer {
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("node%d.log", id)))
		if err != nil {
			logErr = err
			return nil
		}
		logs = append(logs, f)
		return f
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	c, err := kafkaref.StartCluster(ctx, kafkaref.ClusterOptions{LibDir: lib, Dir: dir, Nodes: nodes, Heap: heap,
		Props: props, Output: output})
	if err != nil {
		return err
	}
	if logErr != nil {
		fmt.Fprintf(os.Stderr, "kafkaserver: node output discarded: %v\n", logErr)
	}
	for i, b := range c.Brokers {
		fmt.Printf("node=%d pid=%d addr=%s\n", i+1, b.Pid(), b.Addr)
	}
	fmt.Printf("bootstrap=%s\n", c.Addrs())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	return c.Stop(time.Minute)
}
