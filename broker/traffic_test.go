package broker

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Traffic counts record bytes in and out per topic; ConsumerLag reports a
// group's committed offsets against the high watermark.
func TestTrafficAndConsumerLag(t *testing.T) {
	ts := startGroupServer(t, "")
	ts.createTopic(t, "lagged", 2, nil)
	cl := newKgo(t, ts.addr, kgo.DefaultProduceTopic("lagged"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	ctx := testCtx(t)
	for i := 0; i < 10; i++ {
		r := &kgo.Record{Value: []byte("0123456789"), Partition: int32(i % 2)}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	b := ts.Broker()
	if in := b.Traffic()["lagged"].In; in <= 100 {
		t.Fatalf("bytes in %d after 10 records of 10 bytes", in)
	}
	adm := kadm.NewClient(cl)
	offs := kadm.Offsets{}
	offs.Add(kadm.Offset{Topic: "lagged", Partition: 0, At: 2, LeaderEpoch: -1})
	offs.Add(kadm.Offset{Topic: "lagged", Partition: 1, At: 5, LeaderEpoch: -1})
	if err := adm.CommitAllOffsets(ctx, "watchers", offs); err != nil {
		t.Fatal(err)
	}
	lag := b.ConsumerLag()
	if len(lag) != 2 || lag[0].Lag != 3 || lag[1].Lag != 0 || lag[0].Committed != 2 || lag[0].LogEnd != 5 {
		t.Fatalf("ConsumerLag = %+v; want partition 0 lag 3 (5-2), partition 1 lag 0", lag)
	}
	consumer := newKgo(t, ts.addr, kgo.ConsumeTopics("lagged"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	for n := 0; n < 10; {
		fs := consumer.PollFetches(ctx)
		if err := fs.Err(); err != nil {
			t.Fatal(err)
		}
		n += fs.NumRecords()
	}
	if out := b.Traffic()["lagged"].Out; out < b.Traffic()["lagged"].In {
		t.Fatalf("bytes out %d < bytes in %d after reading everything", out, b.Traffic()["lagged"].In)
	}
}
