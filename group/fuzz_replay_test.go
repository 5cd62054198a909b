package group

import (
	"bytes"
	"encoding/binary"
	"io"
	"log/slog"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/segment"
)

// Fuzzing the __consumer_offsets replay: arbitrary keys and values (any
// version, truncated, garbage, tombstones) are applied as start-up applies
// them. Beyond not panicking, the state they leave is one the coordinator
// can write back: encoding every group and offset with the coordinator's
// own records and replaying those gives the same state.

// replayer is a coordinator with no logs, for replay only.
func replayer(now time.Time) *Coordinator {
	c := &Coordinator{cfg: Config{Now: func() time.Time { return now }}.withDefaults()}
	c.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	c.mu.groups = map[string]*group{}
	return c
}

// fuzzRecords splits data into records: | flags u8 | key len u8 | key |
// value len u16 | value |; flags bit 0: null key, bit 1: null value.
func fuzzRecords(data []byte) []segment.Record {
	var out []segment.Record
	for off := int64(0); len(data) >= 2; off++ {
		flags, kl := data[0], int(data[1])
		data = data[2:]
		key := data[:min(kl, len(data))]
		data = data[len(key):]
		if len(data) < 2 {
			data = nil
		}
		var vl int
		if len(data) >= 2 {
			vl = int(binary.BigEndian.Uint16(data))
			data = data[2:]
		}
		value := data[:min(vl, len(data))]
		data = data[len(value):]
		out = append(out, segment.Record{Offset: off, Key: key, Value: value, KeyNull: flags&1 != 0, ValueNull: flags&2 != 0})
	}
	return out
}

// appendFuzzRecord is the inverse of fuzzRecords for one record.
func appendFuzzRecord(dst []byte, r kv) []byte {
	flags := byte(0)
	if r.value == nil {
		flags |= 2
	}
	dst = append(dst, flags, byte(len(r.key)))
	dst = append(dst, r.key...)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(r.value)))
	return append(dst, r.value...)
}

// stateRecords is the coordinator's records for every group's metadata
// (when it has any, or members) and committed offsets.
func stateRecords(c *Coordinator) []kv {
	var out []kv
	for _, id := range slices.Sorted(maps.Keys(c.mu.groups)) {
		g := c.mu.groups[id]
		if g.hasMetadata() || len(g.members) > 0 {
			out = append(out, groupRecord(g, nil))
		}
		for tp, o := range g.offsets {
			out = append(out, offsetRecord(id, tp, &o))
		}
	}
	return out
}

// loaded drops what load drops: groups with neither offsets nor metadata.
func loaded(c *Coordinator) map[string]*group {
	out := map[string]*group{}
	for id, g := range c.mu.groups {
		if len(g.offsets) > 0 || g.hasMetadata() {
			out[id] = g
		}
	}
	return out
}

// sameGroup compares what the records hold of a group.
func sameGroup(a, b *group) bool {
	if a.id != b.id || a.state != b.state || a.protocolType != b.protocolType || a.protocol != b.protocol ||
		a.generation != b.generation || a.leader != b.leader || a.stateTime.UnixMilli() != b.stateTime.UnixMilli() ||
		!maps.Equal(a.offsets, b.offsets) {
		return false
	}
	am, bm := a.sortedMembers(), b.sortedMembers()
	return slices.EqualFunc(am, bm, func(x, y *member) bool {
		return x.id == y.id && (x.instanceID == nil) == (y.instanceID == nil) &&
			(x.instanceID == nil || *x.instanceID == *y.instanceID) &&
			x.clientID == y.clientID && x.clientHost == y.clientHost &&
			x.sessionTimeout == y.sessionTimeout && x.rebalanceTimeout == y.rebalanceTimeout &&
			x.protocolType == y.protocolType && bytes.Equal(x.assignment, y.assignment) &&
			slices.EqualFunc(x.protocols, y.protocols, func(p, q Protocol) bool {
				return p.Name == q.Name && bytes.Equal(p.Metadata, q.Metadata)
			})
	})
}

func replaySeeds() [][]byte {
	now := time.UnixMilli(1_700_000_000_123)
	inst, proto, leader := "i-1", "range", "m-1"
	g := newGroup("g", 0, now)
	g.protocolType, g.protocol, g.generation = "consumer", proto, 4
	g.add(&member{id: "m-1", instanceID: &inst, clientID: "c", clientHost: "/127.0.0.1", sessionTimeout: 10 * time.Second,
		rebalanceTimeout: 20 * time.Second, protocolType: "consumer",
		protocols: []Protocol{{Name: proto, Metadata: []byte{0, 1, 2}}}, assignment: []byte("a")})
	g.add(&member{id: "m-2", clientID: "d", sessionTimeout: 6 * time.Second, protocolType: "consumer",
		protocols: []Protocol{{Name: proto}}})
	g.leader = leader
	commit := offsetRecord("g", TopicPartition{"t", 3}, &Offset{Offset: 42, LeaderEpoch: 7, Metadata: "md", CommitTimestamp: 99})
	other := offsetRecord("\xff\xfe", TopicPartition{"u", 0}, &Offset{Offset: 1, LeaderEpoch: -1})

	// Older value versions, as Kafka wrote them.
	v0 := kmsg.NewOffsetCommitValue()
	v0.Version, v0.Offset, v0.Metadata = 0, 5, "old"
	v1 := kmsg.NewOffsetCommitValue()
	v1.Version, v1.Offset, v1.ExpireTimestamp = 1, 6, 1000
	k0 := kmsg.OffsetCommitKey{Version: 0, Group: "old", Topic: "t", Partition: 1}
	gv0 := kmsg.NewGroupMetadataValue()
	gv0.Version, gv0.ProtocolType, gv0.Generation = 0, "consumer", 1
	gm := kmsg.NewGroupMetadataValueMember()
	gm.MemberID, gm.SessionTimeoutMillis = "x", 3000
	gv0.Members = append(gv0.Members, gm)

	var all []byte
	for _, r := range []kv{groupRecord(g, nil), commit, other} {
		all = appendFuzzRecord(all, r)
	}
	tomb := appendFuzzRecord(nil, commit)
	tomb = appendFuzzRecord(tomb, kv{key: commit.key})
	tomb = appendFuzzRecord(tomb, groupTombstone("g"))
	return [][]byte{
		all,
		tomb,
		appendFuzzRecord(nil, kv{key: k0.AppendTo(nil), value: v0.AppendTo(nil)}),
		appendFuzzRecord(nil, kv{key: k0.AppendTo(nil), value: v1.AppendTo(nil)}),
		appendFuzzRecord(nil, kv{key: (&kmsg.GroupMetadataKey{Version: 2, Group: "o"}).AppendTo(nil), value: gv0.AppendTo(nil)}),
		appendFuzzRecord(nil, kv{key: []byte{0, 1, 0xff, 0xff}, value: []byte{0, 3}}),
		appendFuzzRecord(nil, kv{key: []byte{0, 2, 0x7f, 0xff}, value: []byte{0, 3, 0x7f, 0xff, 0xff, 0xff}}),
		appendFuzzRecord(nil, kv{key: []byte{0, 9}, value: []byte{1}}),
		{1, 0, 0, 0},
	}
}

// FuzzReplay replays arbitrary records; the state left re-encodes into
// records that replay to the same state.
func FuzzReplay(f *testing.F) {
	for _, s := range replaySeeds() {
		f.Add(s)
	}
	now := time.UnixMilli(1_700_000_000_000)
	f.Fuzz(func(t *testing.T, data []byte) {
		c := replayer(now)
		for _, r := range fuzzRecords(data) {
			c.replay(0, r)
		}
		for id, g := range c.mu.groups {
			if g.id != id || (g.leader != "" && g.members[g.leader] == nil) || (len(g.members) > 0) != (g.state == Stable) {
				t.Fatalf("group %q: id %q, leader %q of %d members, state %v", id, g.id, g.leader, len(g.members), g.state)
			}
		}
		again := replayer(now)
		for i, r := range stateRecords(c) {
			again.replay(0, segment.Record{Offset: int64(i), Key: r.key, Value: r.value, ValueNull: r.value == nil})
		}
		want, got := loaded(c), loaded(again)
		if !maps.EqualFunc(want, got, sameGroup) {
			t.Fatalf("replaying the re-encoded state differs:\nwant %d groups %v\ngot %d groups %v",
				len(want), slices.Sorted(maps.Keys(want)), len(got), slices.Sorted(maps.Keys(got)))
		}
	})
}

// TestLoadSkipsBadRecords: records that do not decode, in a real
// __consumer_offsets log, are skipped at start-up; the good ones around
// them load.
func TestLoadSkipsBadRecords(t *testing.T) {
	h := newHarness(t)
	tp := TopicPartition{"t", 0}
	good := func(off int64) kv { return offsetRecord("g", tp, &Offset{Offset: off, LeaderEpoch: -1}) }
	bad := []kv{
		{key: []byte{0, 1}}, // truncated key
		{key: []byte{0, 1, 0x7f, 0xff, 'g'}, value: []byte{0}}, // string overruns
		{key: good(0).key, value: []byte{0, 3, 1}},             // truncated value
		{key: good(0).key, value: []byte{0x7f, 0x7f}},          // unknown value version
		{key: []byte{0, 2, 0, 1, 'h'}, value: []byte{0, 3}},    // group value truncated
		{key: []byte{0, 42, 1, 2, 3}, value: []byte{4}},        // unknown key version
	}
	recs := append([]kv{good(1)}, bad...)
	recs = append(recs, good(2))
	if _, err := h.logs[0].Append(encodeBatch(recs, 1)); err != nil {
		t.Fatal(err)
	}
	h.reopen()
	got, err := h.c.Fetch("g", []TopicPartition{tp})
	if err != nil || len(got) != 1 || !got[0].Found || got[0].Offset.Offset != 2 {
		t.Fatalf("after load: %+v, %v", got, err)
	}
	if ls, _ := h.c.List(nil, nil); len(ls) != 1 || ls[0].Group != "g" {
		t.Fatalf("groups after load: %+v", ls)
	}
}
