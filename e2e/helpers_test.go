package e2e

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// newClient returns a franz-go client for addr (closed at cleanup) that
// may auto-create topics. Its log (info and above) is printed if the test
// fails, so that a failure says what the client saw: retries, dead
// connections, a producer id started over.
func newClient(t testing.TB, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	log := &tailBuffer{max: 64 << 10}
	opts = append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.AllowAutoTopicCreation(),
		kgo.RetryTimeout(ioTimeout), kgo.WithLogger(kgo.BasicLogger(log, kgo.LogLevelInfo, func() string {
			return time.Now().UTC().Format("15:04:05.000000 ")
		}))}, opts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatalf("kgo.NewClient: %v", err)
	}
	t.Cleanup(func() {
		cl.Close()
		if t.Failed() {
			t.Logf("franz-go client of %s, its log:\n%s", addr, log.String())
		}
	})
	return cl
}

// createTopic creates topic with the given partitions through the Admin API.
func createTopic(t testing.TB, addr, topic string, partitions int32) {
	t.Helper()
	cl := newClient(t, addr)
	ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
	defer cancel()
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, partitions, 1, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create topic %q (%d partitions): %v", topic, partitions, err)
	}
}

// produceSync produces recs (acks=all) and fails the test on any error.
// It returns the records as acknowledged (partition and offset set).
func produceSync(t testing.TB, cl *kgo.Client, recs ...*kgo.Record) []*kgo.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
	defer cancel()
	res := cl.ProduceSync(ctx, recs...)
	if err := res.FirstErr(); err != nil {
		t.Fatalf("produce %d records: %v", len(recs), err)
	}
	out := make([]*kgo.Record, len(res))
	for i, r := range res {
		out[i] = r.Record
	}
	return out
}

// consumeN reads n records of topic from the start of every partition
// with a fresh client, failing on errors or after ioTimeout.
func consumeN(t testing.TB, addr, topic string, n int, opts ...kgo.Opt) []*kgo.Record {
	t.Helper()
	return pollN(t, newConsumer(t, addr, topic, opts...), n)
}

// newConsumer is a client that consumes topic from its start.
func newConsumer(t testing.TB, addr, topic string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	return newClient(t, addr, append([]kgo.Opt{kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(200 * time.Millisecond)}, opts...)...)
}

// pollN polls cl until it has n records.
func pollN(t testing.TB, cl *kgo.Client, n int) []*kgo.Record {
	t.Helper()
	recs, err := pollNErr(cl, n)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// pollNErr polls cl until it has n records; safe off the test goroutine.
func pollNErr(cl *kgo.Client, n int) ([]*kgo.Record, error) {
	ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return out, fmt.Errorf("consumed %d of %d records before %v", len(out), n, ioTimeout)
		}
		for _, e := range fs.Errors() {
			return out, fmt.Errorf("fetch %s/%d: %v (after %d of %d records)", e.Topic, e.Partition, e.Err, len(out), n)
		}
		out = append(out, fs.Records()...)
	}
	if len(out) > n {
		return out, fmt.Errorf("consumed %d records, want %d", len(out), n)
	}
	return out, nil
}

var healthSeq atomic.Int64

// requireHealthy checks with a fresh franz-go client that the daemon still
// produces and consumes: one record to topic, read back at its offset.
func requireHealthy(t testing.TB, addr, topic string) {
	t.Helper()
	val := fmt.Sprintf("health-%d-%d", time.Now().UnixNano(), healthSeq.Add(1))
	cl := newClient(t, addr)
	got := produceSync(t, cl, &kgo.Record{Topic: topic, Key: []byte("health"), Value: []byte(val)})[0]
	cons := newClient(t, addr, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{
		topic: {got.Partition: kgo.NewOffset().At(got.Offset)}}), kgo.FetchMaxWait(200*time.Millisecond))
	recs := pollN(t, cons, 1)
	if string(recs[0].Value) != val || recs[0].Offset != got.Offset {
		t.Fatalf("health check read offset %d %q, want offset %d %q", recs[0].Offset, recs[0].Value, got.Offset, val)
	}
	cl.Close()
	cons.Close()
}

// rawConn speaks Kafka frames over one TCP connection.
type rawConn struct {
	t    testing.TB
	conn net.Conn
	corr int32
	fmt  *kmsg.RequestFormatter
}

func dialRaw(t testing.TB, addr string) *rawConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, ioTimeout)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{t: t, conn: c, fmt: kmsg.NewRequestFormatter(kmsg.FormatterClientID("e2e-raw"))}
}

// write sends bytes as they are.
func (rc *rawConn) write(p []byte) {
	rc.t.Helper()
	_ = rc.conn.SetWriteDeadline(time.Now().Add(ioTimeout))
	if _, err := rc.conn.Write(p); err != nil {
		rc.t.Fatalf("write %d bytes: %v", len(p), err)
	}
}

// send writes req as a frame and returns its correlation id.
func (rc *rawConn) send(req kmsg.Request) int32 {
	rc.t.Helper()
	rc.corr++
	rc.write(rc.fmt.AppendRequest(nil, req, rc.corr))
	return rc.corr
}

// readFrame reads one size-prefixed frame into buf (grown as needed).
func (rc *rawConn) readFrame(buf []byte) ([]byte, error) {
	_ = rc.conn.SetReadDeadline(time.Now().Add(ioTimeout))
	var size [4]byte
	if _, err := io.ReadFull(rc.conn, size[:]); err != nil {
		return nil, err
	}
	n := int32(binary.BigEndian.Uint32(size[:]))
	if n < 4 {
		return nil, fmt.Errorf("response frame of %d bytes", n)
	}
	if cap(buf) < int(n) {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	_, err := io.ReadFull(rc.conn, buf)
	return buf, err
}

// roundTrip sends req and decodes its response.
func (rc *rawConn) roundTrip(req kmsg.Request) kmsg.Response {
	rc.t.Helper()
	corr := rc.send(req)
	frame, err := rc.readFrame(nil)
	if err != nil {
		rc.t.Fatalf("api key %d v%d: read response: %v", req.Key(), req.GetVersion(), err)
	}
	resp, err := decodeResponse(req, corr, frame)
	if err != nil {
		rc.t.Fatalf("%v", err)
	}
	return resp
}

// decodeResponse checks a response frame's header and decodes its body.
func decodeResponse(req kmsg.Request, corr int32, frame []byte) (kmsg.Response, error) {
	if got := int32(binary.BigEndian.Uint32(frame)); got != corr {
		return nil, fmt.Errorf("api key %d: correlation id %d, want %d", req.Key(), got, corr)
	}
	body := frame[4:]
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	if resp.IsFlexible() && req.Key() != 18 { // ApiVersions: header v0 always
		if len(body) == 0 || body[0] != 0 {
			return nil, fmt.Errorf("api key %d: unexpected response header tags", req.Key())
		}
		body = body[1:]
	}
	if err := resp.ReadFrom(body); err != nil {
		return nil, fmt.Errorf("api key %d v%d: decode response: %w", req.Key(), req.GetVersion(), err)
	}
	return resp, nil
}

// expectClosed requires the daemon to close the connection (EOF or reset)
// within ioTimeout, sending nothing first.
func (rc *rawConn) expectClosed(what string) {
	rc.t.Helper()
	_ = rc.conn.SetReadDeadline(time.Now().Add(ioTimeout))
	var b [1]byte
	n, err := rc.conn.Read(b[:])
	switch {
	case n > 0:
		rc.t.Fatalf("%s: the daemon answered (first byte %#x), want the connection closed", what, b[0])
	case isTimeout(err):
		rc.t.Fatalf("%s: the connection is still open after %v, want it closed", what, ioTimeout)
	}
}

// drainUntilClosed reads and discards until the daemon closes the
// connection, failing after ioTimeout.
func (rc *rawConn) drainUntilClosed(what string) {
	rc.t.Helper()
	_ = rc.conn.SetReadDeadline(time.Now().Add(ioTimeout))
	if _, err := io.Copy(io.Discard, rc.conn); isTimeout(err) {
		rc.t.Fatalf("%s: the connection is still open after %v, want it closed", what, ioTimeout)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// metadataCreate makes sure topic exists (Metadata with auto-creation) on
// a raw connection.
func (rc *rawConn) metadataCreate(topic string) {
	rc.t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	req.SetVersion(7)
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, mt)
	req.AllowAutoTopicCreation = true
	deadline := time.Now().Add(ioTimeout)
	for {
		resp := rc.roundTrip(req).(*kmsg.MetadataResponse)
		if len(resp.Topics) == 1 && resp.Topics[0].ErrorCode == 0 && len(resp.Topics[0].Partitions) > 0 {
			return
		}
		if time.Now().After(deadline) {
			rc.t.Fatalf("metadata for %q: topic not ready: %+v", topic, resp.Topics)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// produceReq is a Produce request of one batch to topic/partition.
func produceReq(version, acks int16, topic string, partition int32, records []byte) *kmsg.ProduceRequest {
	req := kmsg.NewPtrProduceRequest()
	req.SetVersion(version)
	req.Acks = acks
	req.TimeoutMillis = int32(ioTimeout / time.Millisecond)
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition = partition
	rp.Records = records
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}
