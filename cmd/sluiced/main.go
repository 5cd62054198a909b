// Command sluiced is the Sluice broker daemon: a single-node,
// Kafka-compatible broker storing partitions as Kafka-format segments.
//
//	sluiced --data-dir DIR --listen HOST:PORT [--advertised-listener HOST:PORT]
//	        [--segment-bytes N] [--fsync never|interval|always] [--log-level LEVEL]
//
// SIGTERM or SIGINT stops it cleanly: no new connections or requests,
// in-flight requests served (up to --shutdown-timeout), then the data
// directory is flushed and marked clean; the exit status is 0.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "sluiced:", err)
		os.Exit(exitCode(err))
	}
}

// exitCode is 2 for usage errors (as flag does), 1 otherwise.
func exitCode(err error) int {
	if isUsageError(err) {
		return 2
	}
	return 1
}

// ready is written to stdout once the broker accepts connections, for
// scripts and tests that start the binary.
func ready(stdout io.Writer, addr string) {
	fmt.Fprintf(stdout, "sluiced listening on %s\n", addr)
}
