package broker

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluice/sluice/segment"
)

// Down-conversion for Fetch v0-3, whose responses cannot carry RecordBatch
// v2: v0-1 read magic 0 message sets, v2-3 magic 1, as in Kafka. The
// regions a read returned are copied into memory, converted by
// segment.DownConvert (gzip and snappy batches stay compressed, as
// wrapper messages; zstd ones, which magic 0/1 cannot carry, go out
// uncompressed where Kafka would answer UNSUPPORTED_COMPRESSION_TYPE) and
// sent from the copy; the bytes copied are counted in
// TopicTraffic.ConvertedOut.

// fetchMagic is the message format a Fetch version reads, or 2 when it
// reads RecordBatch v2 as stored.
func fetchMagic(version int16) int8 {
	switch {
	case version < 2:
		return 0
	case version < 4:
		return 1
	}
	return 2
}

// downConvertFetch replaces every partition's regions by its records
// converted to magic.
func (b *Broker) downConvertFetch(topics []fetchTopic, magic int8) {
	for i := range topics {
		for k := range topics[i].parts {
			fp := &topics[i].parts[k]
			if fp.code != 0 || len(fp.res.Regions) == 0 {
				continue
			}
			b.downConvertPart(topics[i].name, fp, magic)
		}
	}
}

// downConvertPart converts one partition's read; a failure answers the
// partition with KAFKA_STORAGE_ERROR (the batches came from disk).
func (b *Broker) downConvertPart(topic string, fp *fetchPart, magic int8) {
	src, err := readRegions(fp)
	releaseRegions(fp.res.Regions)
	fp.res.Regions = nil
	if err == nil {
		fp.legacy, _, err = segment.DownConvert(nil, src, magic)
	}
	if err != nil {
		b.log.Error("fetch down-conversion failed", "topic", topic, "partition", fp.partition, "offset", fp.offset, "err", err)
		fp.code, fp.legacy, fp.res.Bytes = kerr.KafkaStorageError.Code, nil, 0
		return
	}
	b.traffic.counters(topic).convertedOut.Add(int64(len(src)))
	fp.res.Bytes = int64(len(fp.legacy))
}

// readRegions copies a read's regions into one buffer.
func readRegions(fp *fetchPart) ([]byte, error) {
	buf := make([]byte, 0, fp.res.Bytes)
	for _, reg := range fp.res.Regions {
		start := len(buf)
		buf = append(buf, make([]byte, reg.Len)...)
		if _, err := reg.File.ReadAt(buf[start:], reg.Off); err != nil {
			return nil, fmt.Errorf("cannot read %d bytes at %d of %s: %w", reg.Len, reg.Off, reg.File.Name(), err)
		}
	}
	return buf, nil
}
