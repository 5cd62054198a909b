package broker

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/netio"
	"github.com/sluice/sluice/partition"
)

// TestProduceCallReuse serves Produce requests of different shapes one
// after the other with the same produceCall, as the pool hands it back:
// no field of an earlier request or response leaks into a later one (a
// transactional id into a v2 request, which has none; partitions, error
// codes and messages of a larger response into a smaller one).
func TestProduceCallReuse(t *testing.T) {
	b := newTestBroker(t)
	if _, err := b.topics.createTopic("a", 3, nil); err != nil {
		t.Fatal(err)
	}
	pc := new(produceCall)
	conn := &netio.Conn{}
	serve := func(req *kmsg.ProduceRequest) *kmsg.ProduceResponse {
		t.Helper()
		frame := kmsg.NewRequestFormatter(kmsg.FormatterClientID("reuse")).AppendRequest(nil, req, 7)[4:]
		h, body, err := parseHeader(frame)
		if err != nil {
			t.Fatal(err)
		}
		if err := pc.decode(h, body); err != nil {
			t.Fatal(err)
		}
		pc.r = request{conn: conn, key: h.key, version: h.version, corrID: h.corrID, clientID: h.clientID, kreq: &pc.req, call: pc}
		out, err := handleProduce(context.Background(), b, &pc.r)
		if err == nil {
			out, err = out.Wait()
		}
		if !pc.reset() {
			t.Fatal("a small produceCall is not kept")
		}
		if err != nil || out == nil {
			t.Fatalf("handleProduce: %v, %v", out, err)
		}
		resp := kmsg.NewPtrProduceResponse()
		resp.Version = req.Version
		if err := resp.ReadFrom(responseBody(t, out, req.Version >= 9)); err != nil {
			t.Fatal(err)
		}
		return resp
	}
	type want struct {
		topic     string
		partition int32
		code      int16
		offset    int64
		message   bool
	}
	check := func(resp *kmsg.ProduceResponse, wants ...want) {
		t.Helper()
		var got []want
		for _, st := range resp.Topics {
			for _, sp := range st.Partitions {
				got = append(got, want{st.Topic, sp.Partition, sp.ErrorCode, sp.BaseOffset, sp.ErrorMessage != nil})
			}
		}
		if len(got) != len(wants) {
			t.Fatalf("got %+v, want %+v", got, wants)
		}
		for i := range got {
			if got[i] != wants[i] {
				t.Fatalf("partition %d: got %+v, want %+v", i, got[i], wants[i])
			}
		}
		if len(resp.Brokers) != 0 {
			t.Fatalf("brokers %+v in a response without leader hints", resp.Brokers)
		}
	}
	batch := makeBatch(noProducer, []byte("v"))

	big := produceReq(9, 1, "a", 0, batch)
	for _, p := range []int32{1, 99} {
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Partition, rp.Records = p, batch
		big.Topics[0].Partitions = append(big.Topics[0].Partitions, rp)
	}
	nope := kmsg.NewProduceRequestTopic()
	nope.Topic = "nope"
	nope.Partitions = append(nope.Partitions, big.Topics[0].Partitions[0])
	big.Topics = append(big.Topics, nope)
	check(serve(big),
		want{"a", 0, 0, 0, false}, want{"a", 1, 0, 0, false},
		want{"a", 99, kerr.UnknownTopicOrPartition.Code, -1, false},
		want{"nope", 0, kerr.UnknownTopicOrPartition.Code, -1, false})

	legacy := append([]byte(nil), batch...)
	legacy[16] = 1 // magic 1 in a v3+ request: INVALID_RECORD with a message
	check(serve(produceReq(9, 1, "a", 1, legacy)), want{"a", 1, kerr.InvalidRecord.Code, -1, true})

	txn := produceReq(9, 1, "a", 2, batch)
	id := "tx"
	txn.TransactionID = &id
	check(serve(txn), want{"a", 2, kerr.InvalidTxnState.Code, -1, false})

	check(serve(produceReq(2, 1, "a", 2, batch)), want{"a", 2, 0, 0, false}) // no transactional id in v2
	check(serve(produceReq(9, 1, "a", 0, batch)), want{"a", 0, 0, 1, false})
	check(serve(produceReq(7, 1, "a", 2, nil)), want{"a", 2, kerr.InvalidRecord.Code, -1, false})
	check(serve(produceReq(12, 1, "a", 1, batch)), want{"a", 1, 0, 1, false})
}

// TestParseHeaderAfterReusesClientID: the previous request's client id is
// reused when it is the same, and a different one is read as sent.
func TestParseHeaderAfterReusesClientID(t *testing.T) {
	frame := func(id string) []byte {
		return kmsg.NewRequestFormatter(kmsg.FormatterClientID(id)).AppendRequest(nil, kmsg.NewPtrApiVersionsRequest(), 1)[4:]
	}
	h, _, err := parseHeaderAfter(frame("one"), nil)
	if err != nil || h.clientID == nil || *h.clientID != "one" {
		t.Fatalf("first: %v, %v", h.clientID, err)
	}
	prev := h.clientID
	if h, _, err = parseHeaderAfter(frame("one"), prev); err != nil || h.clientID != prev {
		t.Fatalf("same client id: %p (%v), want %p", h.clientID, err, prev)
	}
	if h, _, err = parseHeaderAfter(frame("two"), prev); err != nil || h.clientID == prev || *h.clientID != "two" || *prev != "one" {
		t.Fatalf("other client id: %v (%v), previous now %q", h.clientID, err, *prev)
	}
	null := kmsg.NewRequestFormatter().AppendRequest(nil, kmsg.NewPtrApiVersionsRequest(), 1)[4:]
	if h, _, err = parseHeaderAfter(null, prev); err != nil || h.clientID != nil {
		t.Fatalf("null client id: %v, %v", h.clientID, err)
	}
}

// newTestBroker is a Broker on a store in a temporary directory, without
// a server.
func newTestBroker(t testing.TB) *Broker {
	t.Helper()
	store, err := partition.OpenStore(partition.StoreConfig{Dir: t.TempDir(), Defaults: partition.DefaultConfig(), Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	cfg := DefaultConfig()
	cfg.Logger = testLogger()
	b, err := New(cfg, store)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// responseBody is out's body after its correlation id (and, flexible, the
// response header's tags).
func responseBody(t testing.TB, out *netio.Response, flexible bool) []byte {
	t.Helper()
	var buf bytesWriter
	if _, err := out.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	n := 4
	if flexible {
		n = 5
	}
	if len(buf) < n {
		t.Fatalf("response of %d bytes", len(buf))
	}
	return buf[n:]
}

type bytesWriter []byte

func (w *bytesWriter) Write(p []byte) (int, error) { *w = append(*w, p...); return len(p), nil }
