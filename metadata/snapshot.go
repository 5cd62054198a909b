package metadata

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"slices"
)

// snapshotMagic opens a snapshot: "SLMD" then the format version.
var snapshotMagic = []byte{'S', 'L', 'M', 'D', 0}

// Records returns the records that rebuild im from Empty, in a canonical
// order: brokers by id, topics by name each followed by its partitions,
// configs by resource and key, the last producer-id block.
func (im *Image) Records() []Record {
	var recs []Record
	for _, br := range im.Brokers() {
		recs = append(recs, RegisterBroker{
			BrokerID: br.ID, Incarnation: br.Incarnation, BrokerEpoch: br.Epoch,
			Endpoints: br.Endpoints, Rack: br.Rack, Fenced: br.Fenced,
		})
	}
	for _, name := range im.TopicNames() {
		t, _ := im.Topic(name)
		recs = append(recs, Topic{Name: t.Name, ID: t.ID})
		for _, p := range t.Partitions {
			recs = append(recs, p)
		}
	}
	resources := slices.SortedFunc(maps.Keys(im.configs), func(a, b ConfigResource) int {
		if a.Type != b.Type {
			return int(a.Type) - int(b.Type)
		}
		return compareStrings(a.Name, b.Name)
	})
	for _, res := range resources {
		m := im.configs[res]
		for _, k := range slices.Sorted(maps.Keys(m)) {
			recs = append(recs, Config{ResourceType: res.Type, ResourceName: res.Name, Key: k, Value: m[k]})
		}
	}
	if im.producerIDs != (ProducerIdsBlock{}) {
		recs = append(recs, im.producerIDs)
	}
	return im.securityRecords(recs)
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// AppendSnapshot appends the snapshot of im to dst:
//
//	+-------------+-------------+------------------------------+
//	| "SLMD" (4B) | version (1B)| frames of Records(), in order |
//	+-------------+-------------+------------------------------+
//
// Equal images give equal bytes.
func (im *Image) AppendSnapshot(dst []byte) []byte {
	dst = append(dst, snapshotMagic...)
	for _, rec := range im.Records() {
		dst = AppendRecord(dst, rec)
	}
	return dst
}

// DecodeSnapshot rebuilds an image from AppendSnapshot's bytes. Every
// failure wraps ErrCorrupt (an inconsistent snapshot is a corrupt one).
func DecodeSnapshot(b []byte) (*Image, error) {
	if !bytes.HasPrefix(b, snapshotMagic) {
		return nil, fmt.Errorf("%w: snapshot header", ErrCorrupt)
	}
	recs, err := DecodeBatch(b[len(snapshotMagic):])
	if err != nil {
		return nil, fmt.Errorf("cannot decode snapshot: %w", err)
	}
	im, err := Empty.Apply(recs)
	if err != nil {
		if errors.Is(err, ErrCorrupt) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: snapshot: %w", ErrCorrupt, err)
	}
	return im, nil
}
