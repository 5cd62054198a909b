package broker

import (
	"strings"
	"testing"

	"github.com/sluice/sluice/netio"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestProduceResponseSizeBounds: produceResponseSize is at least the
// encoded size (header included) of a Produce response at every version
// served, and a one-partition answer for a topic name of up to 200 bytes,
// or a four-partition one for up to 90, is small enough for the pooled
// buffer of netio.NewSmallResponse, so the answers of clients that send
// one partition per request cost no allocation whatever their topics are
// called. (With the 64 bytes it had before, only names of up to 8 bytes
// fit, and a conns-100 run on topic "callgrind" allocated twice per
// request.)
func TestProduceResponseSizeBounds(t *testing.T) {
	for _, c := range []struct{ nameLen, parts int }{{1, 1}, {9, 1}, {40, 1}, {200, 1}, {1, 4}, {90, 4}, {249, 16}} {
		resp := kmsg.NewPtrProduceResponse()
		rt := kmsg.NewProduceResponseTopic()
		rt.Topic = strings.Repeat("t", c.nameLen)
		for p := range c.parts {
			rp := kmsg.NewProduceResponseTopicPartition()
			rp.Partition = int32(p) + 1<<30
			rp.BaseOffset, rp.LogAppendTime, rp.LogStartOffset = 1<<62, 1<<62, 1<<62
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
		est := produceResponseSize(resp)
		for v := int16(0); v <= 12; v++ {
			resp.SetVersion(v)
			r := &request{corrID: 7, key: produceKey, version: v, kreq: &kmsg.ProduceRequest{Version: v}}
			if n := len(resp.AppendTo(r.responseHeader(nil))); n > est {
				t.Errorf("name %d bytes, %d partitions, v%d: encoded %d bytes, estimated %d", c.nameLen, c.parts, v, n, est)
			}
		}
		if fits := est <= netio.SmallResponseBytes; fits != (c.nameLen <= 200 && c.parts == 1 || c.nameLen <= 90 && c.parts <= 4) {
			t.Errorf("name %d bytes, %d partitions: estimate %d, pooled buffer %d bytes: fits=%v", c.nameLen, c.parts, est, netio.SmallResponseBytes, fits)
		}
	}
}
