package bench

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// Config is one run of the load generator. Start from DefaultConfig: zero
// counts and sizes take its defaults, but a zero Acks means acks=0.
type Config struct {
	// Brokers is a comma-separated host:port list; the first is used
	// (Sluice is one node). Default 127.0.0.1:9092 or $SLUICE_BROKERS.
	Brokers string
	// Topic is created with Partitions partitions when missing.
	Topic      string
	Partitions int
	// RecordSize is each record's value size (no key). Default 1024.
	RecordSize int
	// BatchBytes bounds a RecordBatch (and so one Produce request); the
	// broker's max.message.bytes (1048588) caps it. Default 1 MiB.
	BatchBytes int
	// Acks is 0, 1 or -1 (all). DefaultConfig: 1.
	Acks int16
	// Producers and Consumers are connections. Default 1 each.
	Producers, Consumers int
	// Inflight is requests in flight per connection. Default 4.
	Inflight int
	// Rate caps the produce load (zero: as fast as possible).
	Rate Rate
	// Duration and TotalBytes end the run; with neither, produce sends
	// 1 GiB and consume reads to the end of the topic.
	Duration   time.Duration
	TotalBytes int64
	// FromLatest starts consumers at the end of each partition.
	FromLatest bool
	// VerifyCRC checks every fetched batch's CRC-32C.
	VerifyCRC bool
	// TLS connects with TLS (an SSL listener). Nil: plaintext.
	TLS *tls.Config
	// FetchBytes is a Fetch's MaxBytes and partition max. Default 8 MiB.
	FetchBytes int
	// Dir holds the floor's files. Default os.TempDir().
	Dir string
	// Floor runs the matching floor first (produce: TCP to file; consume:
	// sendfile) and reports the ratio.
	Floor bool
	// BrokerPID, when set, is measured: CPU seconds per GB, RSS.
	BrokerPID int
	// Live gets one line per second (nil: none).
	Live io.Writer
	// SASL authenticates every connection (SASL_PLAINTEXT listeners).
	SASL SASL
}

// DefaultBrokers is used when neither --brokers nor $SLUICE_BROKERS is set.
const DefaultBrokers = "127.0.0.1:9092"

// DefaultConfig returns the defaults documented on Config.
func DefaultConfig() Config {
	brokers := os.Getenv("SLUICE_BROKERS")
	if brokers == "" {
		brokers = DefaultBrokers
	}
	return Config{
		Brokers:    brokers,
		Topic:      "sluice-bench",
		Partitions: 1,
		RecordSize: 1024,
		BatchBytes: 1 << 20,
		Acks:       1,
		Producers:  1,
		Consumers:  1,
		Inflight:   4,
		FetchBytes: 8 << 20,
		Dir:        os.TempDir(),
	}
}

// ErrConfig marks a bad setting.
var ErrConfig = errors.New("bench: bad configuration")

func (c *Config) fill() error {
	d := DefaultConfig()
	setDefault(&c.Brokers, d.Brokers)
	setDefault(&c.Topic, d.Topic)
	setDefault(&c.Dir, d.Dir)
	for _, f := range []struct {
		v   *int
		def int
	}{
		{&c.Partitions, d.Partitions}, {&c.RecordSize, d.RecordSize}, {&c.BatchBytes, d.BatchBytes},
		{&c.Producers, d.Producers}, {&c.Consumers, d.Consumers}, {&c.Inflight, d.Inflight},
		{&c.FetchBytes, d.FetchBytes},
	} {
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	return c.check()
}

func setDefault(s *string, def string) {
	if *s == "" {
		*s = def
	}
}

func (c *Config) check() error {
	switch {
	case c.Acks != 0 && c.Acks != 1 && c.Acks != -1:
		return fmt.Errorf("%w: acks %d (want 0, 1 or -1/all)", ErrConfig, c.Acks)
	case c.Partitions < 0 || c.Producers < 0 || c.Consumers < 0 || c.Inflight < 0:
		return fmt.Errorf("%w: negative count", ErrConfig)
	case c.RecordSize < 0 || c.BatchBytes < batchHeaderSize:
		return fmt.Errorf("%w: record size %d, batch bytes %d", ErrConfig, c.RecordSize, c.BatchBytes)
	case c.Duration < 0 || c.TotalBytes < 0:
		return fmt.Errorf("%w: negative duration or total bytes", ErrConfig)
	}
	return nil
}

// broker is the address to connect to.
func (c *Config) broker() string {
	first, _, _ := strings.Cut(c.Brokers, ",")
	return strings.TrimSpace(first)
}

// ParseAcks parses "0", "1", "all" or "-1".
func ParseAcks(s string) (int16, error) {
	switch s {
	case "0":
		return 0, nil
	case "1":
		return 1, nil
	case "all", "-1":
		return -1, nil
	}
	return 0, fmt.Errorf("%w: acks %q (want 0, 1 or all)", ErrConfig, s)
}
