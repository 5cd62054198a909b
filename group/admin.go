package group

import (
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Listing is one group as ListGroups shows it.
type Listing struct {
	Group        string
	ProtocolType string
	State        string
	Type         string // "classic"
}

// List serves ListGroups: every group (not Dead), filtered by state and
// type names when the filters are not empty (case-insensitive, as Kafka).
func (c *Coordinator) List(states, types []string) ([]Listing, error) {
	match := func(filter []string, v string) bool {
		return len(filter) == 0 || slices.ContainsFunc(filter, func(f string) bool { return strings.EqualFold(f, v) })
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.closed {
		return nil, kerr.NotCoordinator
	}
	var out []Listing
	for _, g := range c.mu.groups {
		l := Listing{Group: g.id, ProtocolType: g.protocolType, State: g.state.String(), Type: "classic"}
		if g.state != Dead && match(states, l.State) && match(types, l.Type) {
			out = append(out, l)
		}
	}
	slices.SortFunc(out, func(a, b Listing) int { return strings.Compare(a.Group, b.Group) })
	for _, pt := range c.parts {
		if pt.state == partLoading { // as Kafka: the groups so far, and the error
			return out, kerr.CoordinatorLoadInProgress
		}
	}
	return out, nil
}

// Description is one group as DescribeGroups shows it.
type Description struct {
	Group        string
	Err          error
	State        string
	ProtocolType string
	Protocol     string // only when Stable
	Members      []MemberDescription
}

// MemberDescription is one member; Metadata and Assignment only when the
// group is Stable.
type MemberDescription struct {
	MemberID   string
	InstanceID *string
	ClientID   string
	ClientHost string
	Metadata   []byte
	Assignment []byte
}

// Describe serves DescribeGroups. Unknown groups are "Dead" with no error
// (DescribeGroups v0-5).
func (c *Coordinator) Describe(ids []string) []Description {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Description, 0, len(ids))
	for _, id := range ids {
		d := Description{Group: id, State: Dead.String()}
		g := c.groupLocked(id)
		switch {
		case c.mu.closed:
			d.Err = kerr.NotCoordinator
		case c.availableLocked(id) != nil:
			d.Err = c.availableLocked(id)
		case g != nil:
			d = describe(g)
		}
		out = append(out, d)
	}
	return out
}

func describe(g *group) Description {
	d := Description{Group: g.id, State: g.state.String(), ProtocolType: g.protocolType}
	stable := g.state == Stable
	if stable {
		d.Protocol = g.protocol
	}
	for _, m := range g.sortedMembers() {
		md := MemberDescription{MemberID: m.id, InstanceID: m.instanceID, ClientID: m.clientID, ClientHost: m.clientHost}
		if stable {
			md.Metadata, md.Assignment = m.metadataFor(g.protocol), m.assignment
		}
		d.Members = append(d.Members, md)
	}
	return d
}

// DeleteGroups serves DeleteGroups: an Empty group's metadata and offsets
// are deleted (tombstones appended); others get GROUP_ID_NOT_FOUND or
// NON_EMPTY_GROUP.
func (c *Coordinator) DeleteGroups(ids []string) []error {
	errs := make([]error, len(ids))
	var waits []chan error
	var waitIdx []int
	c.mu.Lock()
	for i, id := range ids {
		var wait chan error
		if errs[i] = c.availableLocked(id); errs[i] != nil {
			continue
		}
		wait, errs[i] = c.deleteGroupLocked(id)
		if wait != nil {
			waits, waitIdx = append(waits, wait), append(waitIdx, i)
		}
	}
	c.mu.Unlock()
	c.flushDirty()
	for k, w := range waits {
		errs[waitIdx[k]] = <-w
	}
	return errs
}

func (c *Coordinator) deleteGroupLocked(id string) (chan error, error) {
	if c.mu.closed {
		return nil, kerr.NotCoordinator
	}
	g := c.groupLocked(id)
	if g == nil || g.state == Dead {
		return nil, kerr.GroupIDNotFound
	}
	if g.state != Empty {
		return nil, kerr.NonEmptyGroup
	}
	var recs []kv
	for tp := range g.offsets {
		recs = append(recs, offsetRecord(id, tp, nil))
	}
	if g.hasMetadata() {
		recs = append(recs, groupTombstone(id))
	}
	g.pending = map[string]time.Time{}
	g.transition(Dead, c.now())
	delete(c.mu.groups, id)
	if len(recs) == 0 {
		return nil, nil
	}
	wait := make(chan error, 1)
	c.enqueueLocked(g.part, &write{recs: recs, apply: func(err error) { wait <- err }})
	return wait, nil
}
