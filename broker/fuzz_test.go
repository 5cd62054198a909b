package broker

import (
	"bytes"
	"context"
	"encoding/binary"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/netio"
)

// FuzzHandleFrame feeds arbitrary frames to Broker.Handle: it never
// panics, and a response starts with the request's correlation id.
func FuzzHandleFrame(f *testing.F) {
	b := newTestBroker(f)
	if _, err := b.topics.createTopic("t", 2, nil); err != nil {
		f.Fatal(err)
	}
	for _, seed := range seedFrames() {
		f.Add(seed)
	}
	conn := &netio.Conn{}
	f.Fuzz(func(t *testing.T, frame []byte) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		resp, err := b.Handle(ctx, conn, append([]byte(nil), frame...))
		if err == nil && resp.IsPending() {
			resp, err = resp.Wait()
		}
		if resp == nil {
			return // an error (close) or acks=0
		}
		defer resp.Release()
		if err != nil {
			t.Fatalf("both a response and an error: %v", err)
		}
		var body bytes.Buffer
		if _, err := resp.WriteTo(&body); err != nil {
			t.Fatal(err)
		}
		if int64(body.Len()) != resp.Len() {
			t.Fatalf("response body of %d bytes, Len says %d", body.Len(), resp.Len())
		}
		// A response exists only for a frame whose header was read: it
		// starts with that header's correlation id (bytes 4 to 8).
		if len(frame) < 8 || body.Len() < 4 || !bytes.Equal(body.Bytes()[:4], frame[4:8]) {
			t.Fatalf("response starts %x for a request whose correlation id is %x", body.Bytes()[:min(4, body.Len())], frame[4:min(8, len(frame))])
		}
	})
}

// seedFrames are valid frames (without size prefix) for every served API.
func seedFrames() [][]byte {
	fmtr := kmsg.NewRequestFormatter(kmsg.FormatterClientID("fuzz"))
	var reqs []kmsg.Request
	for _, a := range registeredAPIs() {
		for _, v := range []int16{a.min, a.max} {
			req := kmsg.RequestForKey(a.key)
			req.SetVersion(v)
			reqs = append(reqs, req)
		}
	}
	fetch := kmsg.NewPtrFetchRequest()
	fetch.Version = 11
	fetch.MaxBytes = 1 << 20
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = "t"
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.PartitionMaxBytes = 1 << 20
	ft.Partitions = append(ft.Partitions, fp)
	fetch.Topics = append(fetch.Topics, ft)
	reqs = append(reqs, fetch, produceReq(9, 1, "t", 1, makeBatch(noProducer, []byte("seed"))))
	var out [][]byte
	for i, req := range reqs {
		frame := fmtr.AppendRequest(nil, req, int32(i))
		out = append(out, frame[4:])
	}
	// A header only, an unknown key, a short frame.
	out = append(out, binary.BigEndian.AppendUint16([]byte{0, 18, 0, 99, 0, 0, 0, 1}, 0xffff), []byte{0x7f, 0, 0, 0, 0, 0, 0, 1, 0, 0}, []byte{0})
	return out
}
