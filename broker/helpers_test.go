package broker

import (
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"log/slog"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/netio"
	"github.com/sluice/sluice/partition"
)

// testServer is a real broker on 127.0.0.1:0 with a real data directory.
type testServer struct {
	*Server
	dir  string
	addr string
}

// testLogger is quiet unless SLUICE_TEST_LOG is set.
func testLogger() *slog.Logger {
	if os.Getenv("SLUICE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func testServerConfig(dir string) ServerConfig {
	ncfg := netio.DefaultConfig()
	ncfg.Addr = "127.0.0.1:0"
	return ServerConfig{
		Store:  partition.StoreConfig{Dir: dir, Defaults: partition.DefaultConfig()},
		Net:    ncfg,
		Broker: DefaultConfig(),
		Logger: testLogger(),
	}
}

// startServer starts a broker on dir (a new temporary one if empty); it
// is shut down at the end of the test unless stopped earlier.
func startServer(t testing.TB, dir string, opts ...func(*ServerConfig)) *testServer {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	cfg := testServerConfig(dir)
	for _, o := range opts {
		o(&cfg)
	}
	srv, err := StartServer(cfg)
	if err != nil {
		t.Fatalf("StartServer: %v", err)
	}
	ts := &testServer{Server: srv, dir: dir, addr: srv.Addr().String()}
	t.Cleanup(func() { ts.stop(t) })
	return ts
}

// stop shuts the server down (idempotent).
func (ts *testServer) stop(t testing.TB) {
	t.Helper()
	if ts.Server == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := ts.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	ts.Server = nil
}

// createTopic creates a topic through the registry.
func (ts *testServer) createTopic(t testing.TB, name string, partitions int32, configs map[string]string) {
	t.Helper()
	if _, err := ts.Broker().topics.createTopic(name, partitions, configs); err != nil {
		t.Fatalf("createTopic %q: %v", name, err)
	}
}

// rawConn speaks the protocol with kmsg over one TCP connection.
type rawConn struct {
	t    testing.TB
	c    net.Conn
	corr int32
	fmt  *kmsg.RequestFormatter
}

func dialRaw(t testing.TB, addr string) *rawConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{t: t, c: c, fmt: kmsg.NewRequestFormatter(kmsg.FormatterClientID("sluice-test"))}
}

// send writes req and returns its correlation id.
func (rc *rawConn) send(req kmsg.Request) int32 {
	rc.t.Helper()
	rc.corr++
	rc.write(rc.fmt.AppendRequest(nil, req, rc.corr))
	return rc.corr
}

// sendRefused sends a request the broker may refuse by closing the
// connection before it has read it all (an oversized frame): a write
// failing with EPIPE or ECONNRESET is then the expected outcome, which
// expectClosed confirms.
func (rc *rawConn) sendRefused(req kmsg.Request) {
	rc.t.Helper()
	rc.corr++
	rc.c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, err := rc.c.Write(rc.fmt.AppendRequest(nil, req, rc.corr))
	if err != nil && !errors.Is(err, syscall.EPIPE) && !errors.Is(err, syscall.ECONNRESET) {
		rc.t.Fatalf("write: %v", err)
	}
}

// write writes a whole frame, size prefix included.
func (rc *rawConn) write(frame []byte) {
	rc.t.Helper()
	rc.c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := rc.c.Write(frame); err != nil {
		rc.t.Fatalf("write: %v", err)
	}
}

// readFrame reads one response frame (without its size prefix).
func (rc *rawConn) readFrame(timeout time.Duration) ([]byte, error) {
	rc.c.SetReadDeadline(time.Now().Add(timeout))
	var size [4]byte
	if _, err := io.ReadFull(rc.c, size[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(size[:])
	if n > 200<<20 {
		return nil, errors.New("response too large")
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(rc.c, b); err != nil {
		return nil, err
	}
	return b, nil
}

// read reads the response to req sent with corr and decodes it.
func (rc *rawConn) read(req kmsg.Request, corr int32) kmsg.Response {
	rc.t.Helper()
	b, err := rc.readFrame(10 * time.Second)
	if err != nil {
		rc.t.Fatalf("read response to key %d: %v", req.Key(), err)
	}
	if got := int32(binary.BigEndian.Uint32(b)); got != corr {
		rc.t.Fatalf("correlation id %d, want %d", got, corr)
	}
	b = b[4:]
	resp := req.ResponseKind()
	if resp.IsFlexible() && req.Key() != apiVersionsKey {
		if len(b) == 0 || b[0] != 0 {
			rc.t.Fatalf("flexible response header: want one empty tag byte, got % x", b[:min(len(b), 4)])
		}
		b = b[1:]
	}
	if err := resp.ReadFrom(b); err != nil {
		rc.t.Fatalf("decode response to key %d v%d: %v", req.Key(), req.GetVersion(), err)
	}
	return resp
}

// roundTrip sends req and returns its response.
func (rc *rawConn) roundTrip(req kmsg.Request) kmsg.Response {
	rc.t.Helper()
	return rc.read(req, rc.send(req))
}

// expectClosed asserts the server closes the connection.
func (rc *rawConn) expectClosed() {
	rc.t.Helper()
	b, err := rc.readFrame(10 * time.Second)
	if err == nil {
		rc.t.Fatalf("connection still open: got a %d-byte response", len(b))
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		rc.t.Fatalf("connection not closed within the deadline")
	}
}

// batchOpts describes a RecordBatch built by makeBatch.
type batchOpts struct {
	producerID    int64
	producerEpoch int16
	sequence      int32
	transactional bool
	timestamp     int64
}

// makeBatch encodes a RecordBatch v2 of values (keys nil) with a valid CRC.
func makeBatch(o batchOpts, values ...[]byte) []byte {
	if o.timestamp == 0 {
		o.timestamp = time.Now().UnixMilli()
	}
	var recs []byte
	for i, v := range values {
		r := kmsg.Record{OffsetDelta: int32(i), Value: v}
		r.Length = int32(len(r.AppendTo(nil)) - 1) // the body after a 1-byte varint(0) length
		recs = r.AppendTo(recs)
	}
	b := kmsg.RecordBatch{
		FirstOffset:     0,
		Magic:           2,
		LastOffsetDelta: int32(len(values) - 1),
		FirstTimestamp:  o.timestamp,
		MaxTimestamp:    o.timestamp,
		ProducerID:      o.producerID,
		ProducerEpoch:   o.producerEpoch,
		FirstSequence:   o.sequence,
		NumRecords:      int32(len(values)),
		Records:         recs,
	}
	if o.transactional {
		b.Attributes |= 0x10
	}
	raw := b.AppendTo(nil)
	binary.BigEndian.PutUint32(raw[8:], uint32(len(raw)-12))
	crc := crc32.Checksum(raw[21:], crc32.MakeTable(crc32.Castagnoli))
	binary.BigEndian.PutUint32(raw[17:], crc)
	return raw
}

// noProducer is batchOpts for a non-idempotent batch.
var noProducer = batchOpts{producerID: -1, producerEpoch: -1, sequence: -1}

// produceReq builds a Produce request of one partition.
func produceReq(version int16, acks int16, topic string, p int32, records []byte) *kmsg.ProduceRequest {
	req := kmsg.NewPtrProduceRequest()
	req.Version = version
	req.Acks = acks
	req.TimeoutMillis = 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition = p
	rp.Records = records
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
