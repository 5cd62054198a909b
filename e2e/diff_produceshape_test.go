package e2e

import (
	"context"
	"encoding/binary"
	"hash/crc32"
)

// scProduceShape sends batches whose header is not what a producer
// writes, each intact (CRC recomputed): Kafka refuses them
// (ProduceRequest.validateRecords, UnifiedLog.analyzeAndValidateRecords,
// LogValidator.validateBatch and validateTimestamp) and appends nothing.
func scProduceShape(ctx context.Context, tg *diffTarget, rec recordFunc) {
	createTopic1(ctx, tg, "diff-shape", 1, nil)
	createTopic1(ctx, tg, "diff-shape-lat", 1, map[string]string{"message.timestamp.type": "LogAppendTime"})
	two := tsBatch([]int64{1000, 1000}, []byte("a"), []byte("b"))
	one := tsBatch([]int64{1000}, []byte("a"))
	f := func(item, topic string, batch []byte) { rec(item, produceOne(ctx, tg, topic, 0, -1, batch)) }
	f("baseOffset 5", "diff-shape", reshaped(two, func(b []byte) { binary.BigEndian.PutUint64(b, 5) }))
	f("lastOffsetDelta 3 with 2 records", "diff-shape", reshaped(two, func(b []byte) { binary.BigEndian.PutUint32(b[23:], 3) }))
	f("recordsCount 0", "diff-shape", reshaped(two, func(b []byte) { binary.BigEndian.PutUint32(b[57:], 0) }))
	f("recordsCount and lastOffsetDelta say 3, 2 records", "diff-shape", reshaped(two, func(b []byte) {
		binary.BigEndian.PutUint32(b[23:], 2)
		binary.BigEndian.PutUint32(b[57:], 3)
	}))
	f("control batch from a client", "diff-shape", reshaped(one, func(b []byte) { b[22] |= 0x20 }))
	f("producer id 5, base sequence -1", "diff-shape", withProducer(one, 5, 0, -1))
	f("two batches for one partition", "diff-shape", append(append([]byte(nil), one...), one...))
	f("LogAppendTime batch on a LogAppendTime topic", "diff-shape-lat", reshaped(one, func(b []byte) { b[22] |= 0x08 }))
	f("LogAppendTime batch on a CreateTime topic", "diff-shape", reshaped(one, func(b []byte) { b[22] |= 0x08 }))
	f("maxTimestamp below baseTimestamp", "diff-shape", reshaped(one, func(b []byte) { binary.BigEndian.PutUint64(b[35:], 999) }))
	rec("then ListOffsets latest", listOffset(ctx, tg, "diff-shape", 0, -1))
}

// reshaped is a copy of batch changed by mod, its CRC recomputed.
func reshaped(batch []byte, mod func(b []byte)) []byte {
	b := append([]byte(nil), batch...)
	mod(b)
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[batchCRCStart:], castagnoli))
	return b
}
