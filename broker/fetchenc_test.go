package broker

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/partition"
	"github.com/sluice/sluice/sendfile"
)

// flatSink flattens what the fetch encoder writes, reading regions.
type flatSink struct {
	t           *testing.T
	buf         []byte
	regions     int
	regionBytes int64
}

func (s *flatSink) AppendBytes(b []byte) { s.buf = append(s.buf, b...) }
func (s *flatSink) AppendRegion(r sendfile.Region) {
	b := make([]byte, r.Len)
	if _, err := r.File.ReadAt(b, r.Off); err != nil {
		s.t.Fatalf("read region: %v", err)
	}
	s.buf = append(s.buf, b...)
	s.regions++
	s.regionBytes += r.Len
}

// TestFetchEncodingMatchesKmsg encodes the same response by hand (with
// file regions) and with kmsg (records as bytes) for every served version
// and compares them byte for byte.
func TestFetchEncodingMatchesKmsg(t *testing.T) {
	path := filepath.Join(t.TempDir(), "seg")
	data := bytes.Repeat([]byte("0123456789abcdef"), 64)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	regs := []sendfile.Region{{File: f, Off: 0, Len: 100}, {File: f, Off: 300, Len: 250}}
	id1, id2 := newUUID(), newUUID()
	topics := []fetchTopic{
		{name: "alpha", id: id1, parts: []fetchPart{
			{partition: 0, committed: true, res: partition.ReadResult{Regions: regs, Bytes: 350, HighWatermark: 40, LastStableOffset: 39, LogStartOffset: 3,
				AbortedTransactions: []partition.AbortedTxn{{ProducerID: 7, FirstOffset: 5}, {ProducerID: 1 << 40, FirstOffset: 1 << 33}}}},
			{partition: 1, committed: true, res: partition.ReadResult{HighWatermark: 7, LastStableOffset: 7, LogStartOffset: 0}},
			{partition: 2, code: kerr.OffsetOutOfRange.Code, res: partition.ReadResult{HighWatermark: 9}},
		}},
		{name: "b", id: id2, parts: []fetchPart{
			{partition: 5, res: partition.ReadResult{Regions: regs[1:], Bytes: 250, HighWatermark: 1 << 40, LastStableOffset: 1 << 40, LogStartOffset: 1 << 39}},
		}},
		{name: "empty", id: id1},
	}
	for v := int16(0); v <= 17; v++ {
		for _, topErr := range []int16{0, kerr.FetchSessionIDNotFound.Code} {
			if topErr != 0 && v < 7 {
				continue
			}
			ts := topics
			sessionID := int32(0)
			if v >= 7 {
				sessionID = 0x1234567 // a session's id, or 0
			}
			if v < 4 {
				ts = legacyTopics(t, topics)
			}
			if topErr != 0 {
				ts = nil
			}
			r := &request{key: 1, version: v, corrID: 12345, kreq: &kmsg.FetchRequest{Version: v}}
			sink := &flatSink{t: t}
			w := &fetchWriter{sink: sink, buf: r.responseHeader(nil), flexible: v >= 12}
			writeFetchBody(w, v, topErr, sessionID, ts)
			w.flush()

			want := r.responseHeader(nil)
			want = kmsgFetchResponse(v, topErr, sessionID, ts).AppendTo(want)
			if !bytes.Equal(sink.buf, want) {
				t.Fatalf("v%d (error %d): hand-written encoding differs from kmsg\n got % x\nwant % x", v, topErr, sink.buf, want)
			}
			// The framing's buffer is allocated once (encodeFetch).
			if framing, est := int64(len(sink.buf))-sink.regionBytes, fetchFramingBytes(ts); framing > int64(est) {
				t.Fatalf("v%d (error %d): %d bytes of framing, fetchFramingBytes estimated %d", v, topErr, framing, est)
			}
			// And kmsg decodes ours.
			dec := kmsg.NewPtrFetchResponse()
			dec.Version = v
			body := sink.buf[4:]
			if v >= 12 {
				body = body[1:]
			}
			if err := dec.ReadFrom(body); err != nil {
				t.Fatalf("v%d: kmsg cannot decode: %v", v, err)
			}
		}
	}
}

// kmsgFetchResponse is the kmsg equivalent of topics.
func kmsgFetchResponse(v, topErr int16, sessionID int32, topics []fetchTopic) *kmsg.FetchResponse {
	resp := kmsg.NewPtrFetchResponse()
	resp.Version = v
	resp.ErrorCode = topErr
	resp.SessionID = sessionID
	for _, ft := range topics {
		rt := kmsg.NewFetchResponseTopic()
		rt.Topic, rt.TopicID = ft.name, ft.id
		for _, fp := range ft.parts {
			rp := kmsg.NewFetchResponseTopicPartition()
			rp.Partition, rp.ErrorCode = fp.partition, fp.code
			rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = fp.res.HighWatermark, fp.res.LastStableOffset, fp.res.LogStartOffset
			if fp.code != 0 {
				rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = -1, -1, -1
			}
			rp.PreferredReadReplica = -1
			if fp.committed && fp.code == 0 {
				rp.AbortedTransactions = []kmsg.FetchResponseTopicPartitionAbortedTransaction{}
				for _, a := range fp.res.AbortedTransactions {
					at := kmsg.NewFetchResponseTopicPartitionAbortedTransaction()
					at.ProducerID, at.FirstOffset = a.ProducerID, a.FirstOffset
					rp.AbortedTransactions = append(rp.AbortedTransactions, at)
				}
			}
			rp.RecordBatches = append([]byte{}, fp.legacy...)
			for _, reg := range fp.res.Regions {
				b := make([]byte, reg.Len)
				if _, err := reg.File.ReadAt(b, reg.Off); err != nil {
					panic(err)
				}
				rp.RecordBatches = append(rp.RecordBatches, b...)
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

// legacyTopics is topics as Fetch v0-3 holds them after down-conversion:
// each read's bytes in legacy, no regions.
func legacyTopics(t *testing.T, topics []fetchTopic) []fetchTopic {
	out := make([]fetchTopic, len(topics))
	for i, ft := range topics {
		out[i] = ft
		out[i].parts = make([]fetchPart, len(ft.parts))
		for k, fp := range ft.parts {
			if len(fp.res.Regions) > 0 {
				b, err := readRegions(&fp)
				if err != nil {
					t.Fatal(err)
				}
				fp.legacy = b
			}
			fp.res.Regions = nil
			out[i].parts[k] = fp
		}
	}
	return out
}
