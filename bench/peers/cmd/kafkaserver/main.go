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
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
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
	heap := flag.String("heap", "1G", "JVM -Xmx and -Xms, as kafka-server-start.sh sets them")
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
	if err := run(*port, *dir, *lib, *heap, *parts, props); err != nil {
		fmt.Fprintf(os.Stderr, "kafkaserver: %v\n", err)
		os.Exit(1)
	}
}

func run(port int, dir, lib, heap string, parts int, props map[string]string) error {
	if dir == "" {
		return fmt.Errorf("--dir is required")
	}
	if lib == "" {
		root, err := peerbench.RepoRoot()
		if err != nil {
			return fmt.Errorf("%w: pass --lib", err)
		}
		lib = kafkaref.LibDir(root)
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
