package broker

import (
	"context"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/netio"
)

// BenchmarkHandleProduce measures one Produce request end to end through
// Broker.Handle (header, decode, checks, append to a real partition.Store
// on a temporary directory, response encoding), acks=1, v9 (flexible) and
// v7: "1x512B" is the conns-100 row's request (one partition, one 512 B
// record), "16px100x100B" the 16 partitions x 100 B row's (16 partitions,
// each a batch of 100 records of 100 B). allocs/op is the figure to watch:
// the garbage collector's share of the broker's CPU follows it.
func BenchmarkHandleProduce(b *testing.B) {
	for _, v := range []int16{9, 7} {
		b.Run(fmt.Sprintf("v%d/1x512B", v), func(b *testing.B) { benchHandleProduce(b, v, 1, 1, 512) })
		b.Run(fmt.Sprintf("v%d/16px100x100B", v), func(b *testing.B) { benchHandleProduce(b, v, 16, 100, 100) })
	}
}

func benchHandleProduce(b *testing.B, version int16, partitions, records, size int) {
	br := newTestBroker(b)
	if _, err := br.topics.createTopic("bench", int32(partitions), nil); err != nil {
		b.Fatal(err)
	}
	values := make([][]byte, records)
	for i := range values {
		values[i] = make([]byte, size)
	}
	batch := makeBatch(noProducer, values...)
	req := produceReq(version, 1, "bench", 0, batch)
	for p := 1; p < partitions; p++ {
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Partition = int32(p)
		rp.Records = batch
		req.Topics[0].Partitions = append(req.Topics[0].Partitions, rp)
	}
	frame := kmsg.NewRequestFormatter(kmsg.FormatterClientID("bench")).AppendRequest(nil, req, 1)[4:]
	// Handle may write into the frame (the batch's base offset) and hands
	// it back to netio's pool: each request gets its own copy, in a buffer
	// whose capacity the pool ignores (not a power of two).
	buf := make([]byte, len(frame), len(frame)+1+len(frame)&1)
	conn := &netio.Conn{}
	ctx := context.Background()
	b.SetBytes(int64(partitions * records * size))
	b.ReportAllocs()
	for b.Loop() {
		copy(buf, frame)
		resp, err := br.Handle(ctx, conn, buf)
		if err == nil && resp.IsPending() {
			resp, err = resp.Wait()
		}
		if err != nil || resp == nil {
			b.Fatalf("Handle: %v, %v", resp, err)
		}
	}
}
