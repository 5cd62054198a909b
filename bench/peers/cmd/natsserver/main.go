// Command natsserver runs an embedded nats-server with JetStream (file
// storage) until SIGTERM or SIGINT, so load generators can measure it as
// a separate process.
//
//	natsserver --port 4222 --store-dir DIR [--sync default|always|DURATION]
//
// It prints `pid=… addr=…` once ready for connections. --sync default
// keeps the server's own setting (fsync every 2 minutes: the kernel writes
// back, as sluiced --fsync never); always fsyncs every write.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

func main() {
	port := flag.Int("port", 4222, "client port (127.0.0.1)")
	storeDir := flag.String("store-dir", "", "JetStream store directory (required)")
	sync := flag.String("sync", "default", "default (server's interval), always, or an fsync interval such as 1s")
	flag.Parse()
	if err := run(*port, *storeDir, *sync); err != nil {
		fmt.Fprintf(os.Stderr, "natsserver: %v\n", err)
		os.Exit(1)
	}
}

func run(port int, storeDir, sync string) error {
	if storeDir == "" {
		return fmt.Errorf("--store-dir is required")
	}
	opts := &server.Options{
		Host:      "127.0.0.1",
		Port:      port,
		JetStream: true,
		StoreDir:  storeDir,
		NoSigs:    true,
		NoLog:     true,
	}
	switch sync {
	case "default":
	case "always":
		opts.SyncAlways = true
	default:
		d, err := time.ParseDuration(sync)
		if err != nil || d <= 0 {
			return fmt.Errorf("--sync %q: want default, always or a positive duration", sync)
		}
		opts.SyncInterval = d
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, os.Interrupt)
	s, err := server.NewServer(opts)
	if err != nil {
		return fmt.Errorf("cannot configure nats-server: %w", err)
	}
	go s.Start()
	if !s.ReadyForConnections(30 * time.Second) {
		s.Shutdown()
		return fmt.Errorf("nats-server on port %d not ready after 30s", port)
	}
	fmt.Printf("pid=%d addr=%s\n", os.Getpid(), s.Addr())
	<-sigs
	s.Shutdown()
	s.WaitForShutdown()
	return nil
}
