// Package bench is the load generator behind `sluice bench`: produce,
// consume, e2e (produce-to-consume latency) and floor (yardsticks for this
// host: loopback TCP into a page-cache file, sendfile to loopback TCP,
// each with its broker side in a second process; see Floor and
// floorproc.go).
//
// A run's Result is what `sluice bench --output json` prints and
// --report saves as results.json, beside chart.svg (chart.go: MB/s and
// per-second p50/p99 against seconds since the start, 1-2-5 ticks for any
// run length).
//
// It speaks only the Kafka wire protocol (github.com/twmb/franz-go/pkg/kmsg
// for the small requests) and never imports the broker, so it measures any
// Kafka-compatible broker the same way.
//
// # Keeping the generator cheap
//
// A RecordBatch v2 is encoded once per (connection, partition) and
// re-stamped before each send: baseTimestamp and maxTimestamp are set to
// now and the CRC-32C is updated from the 16 changed bytes alone (the CRC is
// affine in its input, so crc(new) = crc(old) ^ crc0(old^new), and the
// zero tail after the change is applied with a precomputed GF(2) operator):
//
//	offset  size  field
//	0       8     baseOffset            (set by the broker)
//	8       4     batchLength           (bytes after this field)
//	12      4     partitionLeaderEpoch  (set by the broker)
//	16      1     magic = 2
//	17      4     crc = CRC-32C(attributes .. end)
//	21      2     attributes            ┐
//	23      4     lastOffsetDelta       │
//	27      8     baseTimestamp   ◀ re-stamped
//	35      8     maxTimestamp    ◀ re-stamped
//	43      8     producerId = -1       │ covered by the CRC
//	51      2     producerEpoch = -1    │
//	53      4     baseSequence = -1     │
//	57      4     records count         │
//	61      …     records               ┘
//
// A Produce request is framed by hand around the prebuilt batch and sent
// with one writev, so the batch is never copied in user space:
//
//	┌ int32 size ┬ int16 key=0 ┬ int16 version=7 ┬ int32 correlationId ┬ string clientId ┐
//	├ nullable string transactionalId=-1 ┬ int16 acks ┬ int32 timeoutMs                  ┤
//	├ int32 topics=1 ┬ string topic ┬ int32 partitions=1 ┬ int32 partition ┬ int32 len    ┤  prefix (one small buffer)
//	└ RecordBatch bytes …                                                                 ┘  the prebuilt batch
//
// Requests are pipelined (--inflight per connection); responses come back
// in request order and are matched by correlation id. Each connection reads
// through one bufio.Reader.
//
// # Units
//
// MB is 2^20 bytes and GB 2^30 bytes (as kafka-producer-perf-test counts).
// Latencies are recorded in a log-linear histogram (hist.go) with under 1%
// relative error. Produce latency runs from the request's write to its
// response; e2e latency is the consume time minus the batch's maxTimestamp,
// so it has millisecond resolution.
package bench
