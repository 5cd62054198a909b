package controller

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/hashicorp/raft"
	"github.com/sluice/sluice/metadata"
)

func TestFSMRefusesBadBatchesWhole(t *testing.T) {
	f := NewFSM()
	good := metadata.EncodeBatch([]metadata.Record{metadata.RegisterBroker{BrokerID: 1, BrokerEpoch: 1}})
	if resp := f.Apply(&raft.Log{Index: 1, Type: raft.LogCommand, Data: good}); resp != nil {
		t.Fatal(resp)
	}
	before := f.Image()
	changed := f.Changed()
	apply := func(index uint64, data []byte, want error) {
		t.Helper()
		resp := f.Apply(&raft.Log{Index: index, Type: raft.LogCommand, Data: data})
		if err, _ := resp.(error); !errors.Is(err, want) {
			t.Fatalf("entry %d: %v, want %v", index, resp, want)
		}
		if f.Image() != before {
			t.Fatalf("entry %d: image changed", index)
		}
	}
	apply(2, good[:len(good)-1], metadata.ErrCorrupt)
	// A valid record then one that does not apply: neither is kept.
	apply(3, metadata.EncodeBatch([]metadata.Record{
		metadata.Topic{Name: "t", ID: metadata.UUID{1}},
		metadata.FenceBroker{BrokerID: 9, BrokerEpoch: 1},
	}), metadata.ErrInvalid)

	select {
	case <-changed:
		t.Fatal("refused batches signalled a change")
	default:
	}
	ok := metadata.EncodeBatch([]metadata.Record{metadata.Topic{Name: "t", ID: metadata.UUID{1}}})
	if resp := f.Apply(&raft.Log{Index: 4, Type: raft.LogCommand, Data: ok}); resp != nil {
		t.Fatal(resp)
	}
	select {
	case <-changed:
	default:
		t.Fatal("no change signalled")
	}
	before = f.Image()

	// Snapshot → Restore gives the same image; a torn snapshot is refused.
	snap, _ := f.Snapshot()
	var sink memSink
	if err := snap.Persist(&sink); err != nil {
		t.Fatal(err)
	}
	g := NewFSM()
	if err := g.Restore(io.NopCloser(bytes.NewReader(sink.Bytes()))); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(g.Image().AppendSnapshot(nil), before.AppendSnapshot(nil)) {
		t.Fatal("restored image differs")
	}
	torn := sink.Bytes()[:sink.Len()-1]
	if err := g.Restore(io.NopCloser(bytes.NewReader(torn))); !errors.Is(err, metadata.ErrCorrupt) {
		t.Fatalf("torn snapshot: %v", err)
	}
}

type memSink struct{ bytes.Buffer }

func (*memSink) ID() string    { return "mem" }
func (*memSink) Cancel() error { return nil }
func (*memSink) Close() error  { return nil }
