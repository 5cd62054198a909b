package broker

import (
	"encoding/binary"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestAPIVersionsUnsupportedVersion(t *testing.T) {
	ts := startServer(t, "")
	rc := dialRaw(t, ts.addr)
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = 99
	// Encode as v3 (flexible header and body) but claim v99.
	req.Version = 3
	frame := rc.fmt.AppendRequest(nil, req, 7)
	binary.BigEndian.PutUint16(frame[6:], 99)
	rc.write(frame)
	b, err := rc.readFrame(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if corr := int32(binary.BigEndian.Uint32(b)); corr != 7 {
		t.Fatalf("correlation id %d", corr)
	}
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.Version = 0
	if err := resp.ReadFrom(b[4:]); err != nil {
		t.Fatalf("decode as v0: %v", err)
	}
	if resp.ErrorCode != kerr.UnsupportedVersion.Code {
		t.Fatalf("error code %d, want 35", resp.ErrorCode)
	}
	// KIP-511, as Kafka: the range of ApiVersions alone, to retry with.
	if len(resp.ApiKeys) != 1 || resp.ApiKeys[0].ApiKey != 18 || resp.ApiKeys[0].MinVersion != 0 || resp.ApiKeys[0].MaxVersion != 4 {
		t.Fatalf("ranges %+v, want ApiVersions 0-4 alone", resp.ApiKeys)
	}
	// The connection stays usable.
	ok := rc.roundTrip(kmsg.NewPtrApiVersionsRequest()).(*kmsg.ApiVersionsResponse)
	if ok.ErrorCode != 0 {
		t.Fatalf("v0 retry: error %d", ok.ErrorCode)
	}
}

// checkAPIRanges asserts the advertised ranges: every key from v0, as
// Apache Kafka 3.9 served them (issue 12), up to what Sluice serves.
func checkAPIRanges(t *testing.T, resp *kmsg.ApiVersionsResponse) {
	t.Helper()
	want := map[int16][2]int16{0: {0, 12}, 1: {0, 17}, 2: {0, 9}, 3: {0, 12}, 8: {0, 9}, 9: {0, 9},
		10: {0, 5}, 11: {0, 9}, 12: {0, 4}, 13: {0, 5}, 14: {0, 5}, 15: {0, 5}, 18: {0, 4}, 22: {0, 5}, 23: {0, 4},
		17: {0, 1}, 36: {0, 2}}
	got := map[int16][2]int16{}
	for _, k := range resp.ApiKeys {
		got[k.ApiKey] = [2]int16{k.MinVersion, k.MaxVersion}
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("api %d: advertised %v, want %v", k, got[k], w)
		}
	}
}

func TestAPIVersionsV3HeaderHasNoTags(t *testing.T) {
	ts := startServer(t, "")
	rc := dialRaw(t, ts.addr)
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = 3
	req.ClientSoftwareName, req.ClientSoftwareVersion = "sluice-test", "1.0"
	corr := rc.send(req)
	b, err := rc.readFrame(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if got := int32(binary.BigEndian.Uint32(b)); got != corr {
		t.Fatalf("correlation id %d, want %d", got, corr)
	}
	// The body starts right after the correlation id: ErrorCode int16 = 0,
	// then the compact array of keys. A tag byte here would shift it.
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.Version = 3
	if err := resp.ReadFrom(b[4:]); err != nil {
		t.Fatalf("decode body right after the correlation id: %v", err)
	}
	if resp.ErrorCode != 0 || len(resp.ApiKeys) == 0 {
		t.Fatalf("error %d, %d keys", resp.ErrorCode, len(resp.ApiKeys))
	}
	checkAPIRanges(t, resp)
	if len(resp.SupportedFeatures) != 1 || len(resp.FinalizedFeatures) != 1 || resp.FinalizedFeatures[0].Name != "transaction.version" {
		t.Fatalf("features %+v / %+v, want transaction.version alone", resp.SupportedFeatures, resp.FinalizedFeatures)
	}
}

func TestUnknownAPIKeyClosesConnection(t *testing.T) {
	ts := startServer(t, "")
	bad := dialRaw(t, ts.addr)
	good := dialRaw(t, ts.addr)
	frame := []byte{0, 0, 0, 10, 0x27, 0x0f, 0, 0, 0, 0, 0, 1, 0xff, 0xff} // key 9999
	bad.write(frame)
	bad.expectClosed()
	for range 3 {
		if resp := good.roundTrip(kmsg.NewPtrMetadataRequest()).(*kmsg.MetadataResponse); len(resp.Brokers) != 1 {
			t.Fatalf("other connection: %d brokers", len(resp.Brokers))
		}
	}
}

func TestUnsupportedVersionClosesConnection(t *testing.T) {
	ts := startServer(t, "")
	rc := dialRaw(t, ts.addr)
	req := kmsg.NewPtrMetadataRequest()
	req.Version = 1
	frame := rc.fmt.AppendRequest(nil, req, 1)
	binary.BigEndian.PutUint16(frame[6:], 40) // Metadata v40
	rc.write(frame)
	rc.expectClosed()
}

func TestMetadata(t *testing.T) {
	ts := startServer(t, "", func(c *ServerConfig) { c.Broker.NumPartitions = 2 })
	rc := dialRaw(t, ts.addr)
	meta := func(version int16, allow bool, topics ...string) *kmsg.MetadataResponse {
		req := kmsg.NewPtrMetadataRequest()
		req.Version = version
		req.AllowAutoTopicCreation = allow
		for _, name := range topics {
			rt := kmsg.NewMetadataRequestTopic()
			rt.Topic = kmsg.StringPtr(name)
			req.Topics = append(req.Topics, rt)
		}
		return rc.roundTrip(req).(*kmsg.MetadataResponse)
	}
	for _, v := range []int16{4, 9, 12} {
		resp := meta(v, false, "nope")
		if len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != kerr.UnknownTopicOrPartition.Code {
			t.Fatalf("v%d: unknown topic without auto-create: %+v", v, resp.Topics)
		}
	}
	resp := meta(12, true, "auto")
	if len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != 0 || len(resp.Topics[0].Partitions) != 2 {
		t.Fatalf("auto-create: %+v", resp.Topics)
	}
	id := resp.Topics[0].TopicID
	if id == [16]byte{} {
		t.Fatal("zero topic id")
	}
	b := resp.Brokers[0]
	if b.NodeID != 1 || b.Host != "127.0.0.1" || b.Port != int32(ts.Addr().(*net.TCPAddr).Port) {
		t.Fatalf("broker: %+v", b)
	}
	resp = meta(3, false, "old-clients-create")
	if resp.Topics[0].ErrorCode != 0 {
		t.Fatalf("v3 auto-create: error %d", resp.Topics[0].ErrorCode)
	}
	resp = meta(12, true, "bad/name", "__consumer_offsets")
	if resp.Topics[0].ErrorCode != kerr.InvalidTopicException.Code {
		t.Fatalf("bad name: error %d", resp.Topics[0].ErrorCode)
	}
	if resp.Topics[1].ErrorCode != kerr.UnknownTopicOrPartition.Code || !resp.Topics[1].IsInternal {
		t.Fatalf("internal topic auto-created or not flagged: %+v", resp.Topics[1])
	}
	// v0 empty list and v1+ null list: all topics; v1 empty list: none.
	if n := len(meta(0, false).Topics); n != 2 {
		t.Fatalf("v0 all topics: %d", n)
	}
	req := kmsg.NewPtrMetadataRequest()
	req.Version = 1
	req.Topics = []kmsg.MetadataRequestTopic{}
	if n := len(rc.roundTrip(req).(*kmsg.MetadataResponse).Topics); n != 0 {
		t.Fatalf("v1 empty list: %d topics", n)
	}
	req.Version, req.Topics = 12, nil
	all := rc.roundTrip(req).(*kmsg.MetadataResponse)
	if len(all.Topics) != 2 || all.ClusterID == nil || *all.ClusterID != ts.Broker().ClusterID() || all.ControllerID != 1 {
		t.Fatalf("v12 all: %d topics, cluster %v, controller %d", len(all.Topics), all.ClusterID, all.ControllerID)
	}
	// v12 by topic id.
	rt := kmsg.NewMetadataRequestTopic()
	rt.TopicID = id
	req.Topics = []kmsg.MetadataRequestTopic{rt}
	byID := rc.roundTrip(req).(*kmsg.MetadataResponse)
	if byID.Topics[0].Topic == nil || *byID.Topics[0].Topic != "auto" {
		t.Fatalf("by id: %+v", byID.Topics[0])
	}
	p := byID.Topics[0].Partitions[0]
	if p.Leader != 1 || len(p.Replicas) != 1 || len(p.ISR) != 1 || len(p.OfflineReplicas) != 0 {
		t.Fatalf("partition: %+v", p)
	}
}
