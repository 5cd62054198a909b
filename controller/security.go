package controller

import (
	"crypto/rand"
	"fmt"

	"github.com/sluice/sluice/metadata"
)

// CreateAcls adds ACL bindings (their IDs are ignored and chosen here) and
// returns them as stored. A binding the image already holds (every field
// but the id equal), or one given twice, is not stored again: its stored
// entry is returned, so creating the same ACLs twice (a retried request, a
// repeated takeover) is harmless. Leader only.
func (c *Controller) CreateAcls(acls []metadata.AccessControlEntry) ([]metadata.AccessControlEntry, error) {
	if err := c.beginDecision(); err != nil {
		return nil, err
	}
	defer c.endDecision()
	im := c.Image()
	used := map[metadata.UUID]bool{}
	have := map[metadata.AccessControlEntry]metadata.AccessControlEntry{} // by binding (zero id)
	for _, a := range im.ACLs() {
		used[a.ID] = true
		key := a
		key.ID = metadata.UUID{}
		have[key] = a
	}
	out := make([]metadata.AccessControlEntry, len(acls))
	var recs []metadata.Record
	for i, a := range acls {
		a.ID = metadata.UUID{}
		if stored, ok := have[a]; ok {
			out[i] = stored
			continue
		}
		key := a
		for a.ID.IsZero() || used[a.ID] {
			_, _ = rand.Read(a.ID[:]) // crypto/rand.Read never fails
		}
		used[a.ID] = true
		have[key] = a
		out[i] = a
		recs = append(recs, a)
	}
	if err := c.propose(recs); err != nil {
		return nil, fmt.Errorf("create acls: %w", err)
	}
	return out, nil
}

// DeleteAcls removes, for each filter, the bindings it matches in the
// leader's image (the matching is done here, under the decision lock, so
// two deletions never race) and returns them per filter. Leader only.
func (c *Controller) DeleteAcls(filters []func(metadata.AccessControlEntry) bool) ([][]metadata.AccessControlEntry, error) {
	if err := c.beginDecision(); err != nil {
		return nil, err
	}
	defer c.endDecision()
	out := make([][]metadata.AccessControlEntry, len(filters))
	removed := map[metadata.UUID]bool{}
	var recs []metadata.Record
	for _, a := range c.Image().ACLs() {
		for i, match := range filters {
			if !match(a) {
				continue
			}
			out[i] = append(out[i], a)
			if !removed[a.ID] {
				removed[a.ID] = true
				recs = append(recs, metadata.RemoveAccessControlEntry{ID: a.ID})
			}
		}
	}
	if err := c.propose(recs); err != nil {
		return nil, fmt.Errorf("delete acls: %w", err)
	}
	return out, nil
}

// ScramAlteration is one user's part of an AlterUserScramCredentials
// request: credentials to set and mechanisms to remove.
type ScramAlteration struct {
	Upserts   []metadata.UserScramCredential
	Deletions []metadata.RemoveUserScramCredential
}

// AlterScramCredentials applies every user's alteration in one batch. A
// user one of whose deletions names a credential that does not exist is
// left out whole and reported in missing (missing[i] for alts[i]: Kafka's
// RESOURCE_NOT_FOUND, none of that user's changes applied). Leader only.
func (c *Controller) AlterScramCredentials(alts []ScramAlteration) (missing []bool, err error) {
	if err := c.beginDecision(); err != nil {
		return nil, err
	}
	defer c.endDecision()
	have := map[metadata.ScramKey]bool{}
	for _, cr := range c.Image().ScramCredentials() {
		have[metadata.ScramKey{Name: cr.Name, Mechanism: cr.Mechanism}] = true
	}
	missing = make([]bool, len(alts))
	var recs []metadata.Record
	for i, a := range alts {
		for _, d := range a.Deletions {
			if !have[metadata.ScramKey(d)] {
				missing[i] = true
			}
		}
		if missing[i] {
			continue
		}
		for _, d := range a.Deletions {
			delete(have, metadata.ScramKey(d))
			recs = append(recs, d)
		}
		for _, u := range a.Upserts {
			have[metadata.ScramKey{Name: u.Name, Mechanism: u.Mechanism}] = true
			recs = append(recs, u)
		}
	}
	if err := c.propose(recs); err != nil {
		return nil, fmt.Errorf("alter scram credentials: %w", err)
	}
	return missing, nil
}
