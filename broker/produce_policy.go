package broker

// The topic configs a Produce obeys before the log sees the records, as
// Kafka's LogValidator does:
//
//   - message.timestamp.before.max.ms / after.max.ms (or the deprecated
//     difference.max.ms): on a CreateTime topic, a record whose timestamp
//     is further from the broker's clock than allowed fails the partition
//     with INVALID_TIMESTAMP ("Timestamp … of message with offset … is out
//     of range …"). Unbounded (the default): nothing is decoded.
//   - compression.type: "producer" (the default) stores batches as sent,
//     zero-copy. A codec name, or "uncompressed", recompresses every batch
//     sent with another codec (decoded, then encoded again with
//     segment.EncodeBatch at the topic's compression.<codec>.level; the
//     producer fields, timestamps and attributes other than the codec are
//     kept); batches already in the topic's codec pass through untouched.

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/sluice/sluice/partition"
	"github.com/sluice/sluice/segment"
)

// topicCodecs maps compression.type to a codec id; "producer" is -1.
var topicCodecs = map[string]int{
	"producer":     -1,
	"uncompressed": segment.CodecNone,
	"gzip":         segment.CodecGzip,
	"snappy":       segment.CodecSnappy,
	"lz4":          segment.CodecLZ4,
	"zstd":         segment.CodecZstd,
}

// applyProducePolicy returns records as the topic's config wants them
// stored: checked against the timestamp bounds and recompressed when the
// topic's codec differs. It returns records itself when nothing changes.
// Errors wrap partition.ErrInvalidTimestamp, or partition.ErrCorruptMessage
// for batches that do not decode (the log would refuse them too). A zero
// now is the time of the call, read only when the records are decoded.
func applyProducePolicy(cfg partition.Config, records []byte, now time.Time) ([]byte, error) {
	before, after := cfg.TimestampBounds()
	checkTS := !cfg.LogAppendTime && (before != math.MaxInt64 || after != math.MaxInt64)
	codec, ok := topicCodecs[cfg.CompressionType]
	if !ok {
		codec = -1
	}
	if !checkTS && codec < 0 {
		return records, nil // the common case: no decoding, zero-copy
	}
	if now.IsZero() {
		now = time.Now()
	}
	var out []byte
	changed := false
	err := segment.Split(records, func(batch []byte, h segment.Header) error {
		if checkTS {
			if err := checkTimestamps(batch, now.UnixMilli(), before, after); err != nil {
				return err
			}
		}
		if codec < 0 || h.Compression() == codec || h.Attributes&segment.AttrControl != 0 {
			out = append(out, batch...)
			return nil
		}
		nb, err := recompress(batch, h, codec, cfg)
		if err != nil {
			return err
		}
		out = append(out, nb...)
		changed = true
		return nil
	})
	if err != nil {
		if errors.Is(err, partition.ErrInvalidTimestamp) || errors.Is(err, partition.ErrCorruptMessage) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %w", partition.ErrCorruptMessage, err)
	}
	if !changed {
		return records, nil
	}
	return out, nil
}

// checkTimestamps applies Kafka's bounds to every record of one CreateTime
// batch, with its wording.
func checkTimestamps(batch []byte, now, before, after int64) error {
	var bad error
	err := segment.Records(batch, func(r segment.Record) bool {
		if r.Timestamp < 0 {
			return true // no timestamp (-1): Kafka does not check it either
		}
		if now-r.Timestamp > before || r.Timestamp-now > after {
			bad = fmt.Errorf("%w: Timestamp %d of message with offset %d is out of range. The timestamp should be within [%d, %d]",
				partition.ErrInvalidTimestamp, r.Timestamp, r.Offset, satSub(now, before), satAdd(now, after))
			return false
		}
		return true
	})
	if err != nil {
		return fmt.Errorf("%w: %w", partition.ErrCorruptMessage, err)
	}
	return bad
}

func satSub(a, b int64) int64 {
	if b > 0 && a < math.MinInt64+b {
		return math.MinInt64
	}
	return a - b
}

func satAdd(a, b int64) int64 {
	if b > 0 && a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// recompress decodes one batch and encodes its records again with codec,
// renumbering offsets from the batch's base (as Kafka assigns them anyway).
func recompress(batch []byte, h segment.Header, codec int, cfg partition.Config) ([]byte, error) {
	var recs []segment.Record
	err := segment.Records(batch, func(r segment.Record) bool {
		recs = append(recs, copyRecord(r, h.BaseOffset+int64(len(recs))))
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", partition.ErrCorruptMessage, err)
	}
	if len(recs) == 0 {
		return batch, nil
	}
	spec := segment.BatchSpec{
		PartitionLeaderEpoch: h.PartitionLeaderEpoch,
		Attributes:           h.Attributes&^segment.AttrCompressionMask | int16(codec),
		ProducerID:           h.ProducerID,
		ProducerEpoch:        h.ProducerEpoch,
		BaseSequence:         h.BaseSequence,
		Xerial:               codec == segment.CodecSnappy, // as Kafka's own snappy output
		BaseTimestamp:        h.BaseTimestamp,
		MaxTimestamp:         h.MaxTimestamp,
		Level:                codecLevel(cfg, codec),
	}
	nb, err := segment.EncodeBatch(spec, recs)
	if err != nil {
		return nil, fmt.Errorf("broker: cannot recompress batch: %w", err)
	}
	return nb, nil
}

// codecLevel is the topic's compression.<codec>.level for codec.
func codecLevel(cfg partition.Config, codec int) int {
	switch codec {
	case segment.CodecGzip:
		return cfg.GzipLevel
	case segment.CodecLZ4:
		return cfg.LZ4Level
	case segment.CodecZstd:
		return cfg.ZstdLevel
	}
	return 0
}

// copyRecord copies r out of the decoder's buffers, with offset off.
func copyRecord(r segment.Record, off int64) segment.Record {
	clone := func(b []byte) []byte {
		if b == nil {
			return nil
		}
		return append(make([]byte, 0, len(b)), b...)
	}
	out := r
	out.Offset = off
	out.Key, out.Value = clone(r.Key), clone(r.Value)
	out.Headers = make([]segment.RecordHeader, len(r.Headers))
	for i, hd := range r.Headers {
		out.Headers[i] = segment.RecordHeader{Key: hd.Key, Value: clone(hd.Value)}
	}
	return out
}
