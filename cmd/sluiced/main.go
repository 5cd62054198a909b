// Command sluiced is the Sluice broker daemon: a single-node,
// Kafka-compatible broker storing partitions as Kafka-format segments.
//
//	sluiced [--config server.properties] [--listen HOST:PORT] [--data-dir DIR] [--http-listen HOST:PORT] …
//
// Settings come from built-in defaults, a Kafka server.properties file,
// SLUICE_* environment variables and flags, each overriding the one before
// (package config; `sluiced --help` lists them all). Under systemd
// (NOTIFY_SOCKET set) it reports READY=1 once the Kafka listener accepts
// and STOPPING=1 when it begins to stop.
//
// SIGTERM or SIGINT stops it cleanly: no new connections or requests,
// in-flight requests served (up to --shutdown-timeout), then the data
// directory is flushed and marked clean; the exit status is 0. A bad
// setting exits with status 2, any other failure (such as a data directory
// held by another sluiced) with 1.
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
	selfExec = true
	err := run(ctx, os.Args[1:], os.Environ(), os.Stdout, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "sluiced:", err)
		os.Exit(exitCode(err))
	}
}

// exitCode is 2 for usage and configuration errors (as flag does), 1
// otherwise.
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
