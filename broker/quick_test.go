package broker

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Quick (netio.QuickChecker) calls only a Produce without a transactional
// id quick, at every version, and never panics on a truncated frame.
func TestQuickOnlyNonTransactionalProduce(t *testing.T) {
	b := &Broker{}
	fmtr := kmsg.NewRequestFormatter(kmsg.FormatterClientID("quick-test"))
	frame := func(req kmsg.Request, version int16) []byte {
		req.SetVersion(version)
		return fmtr.AppendRequest(nil, req, 7)[4:] // without the size prefix
	}
	f := func(req kmsg.Request, version int16, want bool) {
		t.Helper()
		fr := frame(req, version)
		if got := b.Quick(nil, fr); got != want {
			t.Fatalf("%T v%d: Quick %v, want %v", req, version, got, want)
		}
		for n := range fr {
			b.Quick(nil, fr[:n]) // a truncated frame: any answer, no panic
		}
	}
	txn := "txn-1"
	for v := int16(0); v <= 12; v++ {
		p := kmsg.NewPtrProduceRequest()
		p.Acks = 1
		p.Topics = []kmsg.ProduceRequestTopic{{Topic: "t", Partitions: []kmsg.ProduceRequestTopicPartition{{Partition: 0, Records: []byte("x")}}}}
		f(p, v, true)
		if v >= 3 {
			p.TransactionID = &txn
			f(p, v, false)
		}
	}
	f(kmsg.NewPtrFetchRequest(), 12, false)
	f(kmsg.NewPtrMetadataRequest(), 12, false)
	f(kmsg.NewPtrJoinGroupRequest(), 9, false)
	f(kmsg.NewPtrApiVersionsRequest(), 3, false)
	if b.Quick(nil, nil) {
		t.Fatal("an empty frame is quick")
	}
}
