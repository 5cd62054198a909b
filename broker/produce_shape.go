package broker

// The checks Kafka's broker makes on a client's record set that do not
// read the records, with Kafka's error codes (the messages are the text of
// Kafka's exceptions, which Kafka logs and leaves out of its response):
//
//   - v3-6: a zstd batch is UNSUPPORTED_COMPRESSION_TYPE (zstd came with
//     v7; ProduceRequest.validateRecords).
//   - v3+: more than one batch for a partition is INVALID_RECORD
//     (ProduceRequest.validateRecords: "… only allowed to contain exactly
//     one record batch per partition"); a v0-2 request's v2 batches too
//     (LogValidator: one batch per append from v2 on).
//   - a baseOffset other than 0 is INVALID_RECORD, before the size and the
//     CRC are looked at (UnifiedLog.analyzeAndValidateRecords, for an
//     append whose origin is a client).
//   - then a batch over max.message.bytes is MESSAGE_TOO_LARGE (the log
//     checks it again, after its own validation of the batch).
//   - then, for a batch whose CRC holds (else the log's own check
//     answers CORRUPT_MESSAGE first, as Kafka), LogValidator.validateBatch's:
//     an offset range (lastOffsetDelta+1) below 1, a record count below 1
//     or one that disagrees with the range, a control batch, a producer
//     id with a negative base sequence: INVALID_RECORD. And
//     validateTimestamp's for a batch marked LogAppendTime, which a
//     producer must not send on a LogAppendTime topic, nor without a
//     timestamp: INVALID_TIMESTAMP.
//
// Only a client's produce goes through these: a follower's fetched
// batches, the coordinators' writes and recovery keep the offsets the
// leader assigned. Where Sluice still differs from Kafka
// (docs/COMPATIBILITY.md, "Produce batch shape"): records that do not
// match the header's count are refused by segment.Validate as the log
// appends, as CORRUPT_MESSAGE where Kafka answers INVALID_RECORD; a
// CreateTime batch whose maxTimestamp is below its baseTimestamp is
// INVALID_TIMESTAMP where Kafka sets maxTimestamp from the records; and a
// compressed batch whose records' offset deltas are not 0..n-1 is stored
// as sent, where Kafka rebuilds it with consecutive offsets.

import (
	"encoding/binary"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluice/sluice/segment"
)

// clientBatchCheck returns the error code of a client's record set (v2
// batches, after up-conversion) and sets the partition's error message.
// Framing it cannot follow is left to the log's validation.
func (j *produceJob) clientBatchCheck(version int16) int16 {
	first, n, ok := firstBatch(j.records)
	if !ok {
		return 0
	}
	const attributesLow = 22 // the low byte of attributes: the codec
	switch {
	case version >= 3 && version < 7 && int(first[attributesLow]&segment.AttrCompressionMask) == segment.CodecZstd:
		return j.refuse(kerr.UnsupportedCompressionType.Code, "Produce requests with version %d are not allowed to use ZStandard compression", version)
	case n > 1 && version >= 3:
		return j.refuse(kerr.InvalidRecord.Code, "Produce requests with version %d are only allowed to contain exactly one record batch per partition", version)
	case n > 1:
		return j.refuse(kerr.InvalidRecord.Code, "Compressed outer record has more than one batch")
	}
	h, err := segment.ParseHeader(first)
	if err != nil {
		return 0
	}
	if h.BaseOffset != 0 {
		return j.refuse(kerr.InvalidRecord.Code, "The baseOffset of the record batch in the append to %s should be 0, but it is %d", j.tp(), h.BaseOffset)
	}
	cfg := j.log.Config()
	if limit := int64(cfg.MaxMessageBytes); h.Size() > limit {
		return j.refuse(kerr.MessageTooLarge.Code, "The record batch size in the append to %s is %d bytes which exceeds the maximum configured value of %d.", j.tp(), h.Size(), limit)
	}
	if !badClientBatch(h, cfg.LogAppendTime) || !segment.CRCHolds(first, h) {
		return 0
	}
	code, msg := explainClientBatch(h, j.tp())
	return j.refuse(code, "%s", msg)
}

// tp names the job's partition as Kafka's messages do: topic-partition.
func (j *produceJob) tp() string { return fmt.Sprintf("%s-%d", j.topic, j.out.Partition) }

// badClientBatch reports whether a client's v2 batch of header h
// (baseOffset 0) fails LogValidator.validateBatch, or is a LogAppendTime
// batch validateTimestamp refuses: on a LogAppendTime topic, or without a
// timestamp (its records carry its MaxTimestamp). explainClientBatch says
// why.
func badClientBatch(h segment.Header, topicLogAppendTime bool) bool {
	return h.LastOffsetDelta < 0 || h.NumRecords <= 0 || int64(h.LastOffsetDelta)+1 != int64(h.NumRecords) ||
		h.Attributes&segment.AttrControl != 0 ||
		h.ProducerID >= 0 && h.BaseSequence < 0 ||
		h.Attributes&segment.AttrTimestampType != 0 && (topicLogAppendTime || h.MaxTimestamp == -1)
}

// explainClientBatch is the error code and Kafka's message for a batch
// badClientBatch refuses, tried in LogValidator's order.
func explainClientBatch(h segment.Header, tp string) (int16, string) {
	last, count := int64(h.LastOffsetDelta), int64(h.NumRecords)
	switch {
	case last+1 <= 0:
		return kerr.InvalidRecord.Code, fmt.Sprintf("Batch has an invalid offset range: [0, %d] in topic partition %s", last, tp)
	case count <= 0:
		return kerr.InvalidRecord.Code, fmt.Sprintf("Invalid reported count for record batch: %d in topic partition %s", count, tp)
	case last+1 != count:
		return kerr.InvalidRecord.Code, fmt.Sprintf("Inconsistent batch offset range [0, %d] and count of records %d in topic partition %s", last, count, tp)
	case h.Attributes&segment.AttrControl != 0:
		return kerr.InvalidRecord.Code, "Clients are not allowed to write control records in topic partition " + tp
	case h.ProducerID >= 0 && h.BaseSequence < 0:
		return kerr.InvalidRecord.Code, fmt.Sprintf("Invalid sequence number %d in record batch with producerId %d in topic partition %s", h.BaseSequence, h.ProducerID, tp)
	}
	return kerr.InvalidTimestamp.Code, "One or more records have been rejected due to invalid timestamp: Producer should not set timestamp type to LogAppendTime."
}

// firstBatch returns the first batch of records and how many batches the
// set frames (2 meaning two or more), or ok false when the framing does
// not hold (a short or overrunning batch).
func firstBatch(records []byte) (first []byte, n int, ok bool) {
	const lengthAt = 8
	for len(records) > 0 && n < 2 {
		if len(records) < segment.HeaderSize {
			return nil, 0, false
		}
		size := int64(int32(binary.BigEndian.Uint32(records[lengthAt:]))) + segment.LogOverhead
		if size < segment.HeaderSize || size > int64(len(records)) {
			return nil, 0, false
		}
		if n == 0 {
			first = records[:size]
		}
		records, n = records[size:], n+1
	}
	return first, n, n > 0
}

// refuse sets the partition's error message and returns code.
func (j *produceJob) refuse(code int16, format string, args ...any) int16 {
	msg := fmt.Sprintf(format, args...)
	j.out.ErrorMessage = &msg
	return code
}
