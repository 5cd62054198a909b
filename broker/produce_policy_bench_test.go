package broker

import (
	"fmt"
	"testing"
	"time"

	"github.com/sluice/sluice/partition"
	"github.com/sluice/sluice/segment"
)

// BenchmarkProducePolicy measures what a Produce pays for the topic's
// compression.type and timestamp bounds, per batch of 100 records of 1 KiB
// (lz4 from the producer): "producer" (the zero-copy pass-through, the
// baseline), a timestamp check (records decoded), and recompression to
// gzip, zstd and uncompressed.
func BenchmarkProducePolicy(b *testing.B) {
	var recs []segment.Record
	for i := range 100 {
		v := make([]byte, 1024)
		for j := range v {
			v[j] = byte('a' + (i+j)%23)
		}
		recs = append(recs, segment.Record{Offset: int64(i), Timestamp: time.Now().UnixMilli(), Value: v})
	}
	batch, err := segment.EncodeBatch(segment.BatchSpec{Attributes: segment.CodecLZ4, ProducerID: -1, BaseSequence: -1}, recs)
	if err != nil {
		b.Fatal(err)
	}
	hour := int64(3600 * 1000)
	for _, c := range []struct {
		name string
		edit func(*partition.Config)
	}{
		{"producer", func(*partition.Config) {}},
		{"timestamp-check", func(c *partition.Config) { c.TimestampAfterMaxMs = hour }},
		{"to-gzip", func(c *partition.Config) { c.CompressionType = "gzip" }},
		{"to-zstd", func(c *partition.Config) { c.CompressionType = "zstd" }},
		{"to-uncompressed", func(c *partition.Config) { c.CompressionType = "uncompressed" }},
	} {
		cfg := partition.DefaultConfig()
		c.edit(&cfg)
		b.Run(fmt.Sprintf("policy=%s", c.name), func(b *testing.B) {
			b.SetBytes(100 * 1024)
			b.ReportAllocs()
			now := time.Now()
			for b.Loop() {
				if _, err := applyProducePolicy(cfg, batch, now); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
