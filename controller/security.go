package controller

import (
	"crypto/rand"
	"fmt"

	"github.com/sluice/sluice/metadata"
)

// CreateAcls adds ACL bindings (their IDs are ignored and chosen here) and
// returns them as stored. Leader only.
func (c *Controller) CreateAcls(acls []metadata.AccessControlEntry) ([]metadata.AccessControlEntry, error) {
	if err := c.beginDecision(); err != nil {
		return nil, err
	}
	defer c.endDecision()
	im := c.Image()
	used := map[metadata.UUID]bool{}
	for _, a := range im.ACLs() {
		used[a.ID] = true
	}
	out := make([]metadata.AccessControlEntry, len(acls))
	recs := make([]metadata.Record, len(acls))
	for i, a := range acls {
		for a.ID.IsZero() || used[a.ID] {
			_, _ = rand.Read(a.ID[:]) // crypto/rand.Read never fails
		}
		used[a.ID] = true
		out[i], recs[i] = a, a
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

// AlterScramCredentials sets upserts and removes deletions in one batch. A
// deletion of a credential that does not exist is left out and reported in
// missing (Kafka's RESOURCE_NOT_FOUND for it). Leader only.
func (c *Controller) AlterScramCredentials(upserts []metadata.UserScramCredential, deletions []metadata.RemoveUserScramCredential) (missing []metadata.RemoveUserScramCredential, err error) {
	if err := c.beginDecision(); err != nil {
		return nil, err
	}
	defer c.endDecision()
	have := map[metadata.ScramKey]bool{}
	for _, cr := range c.Image().ScramCredentials() {
		have[metadata.ScramKey{Name: cr.Name, Mechanism: cr.Mechanism}] = true
	}
	recs := make([]metadata.Record, 0, len(upserts)+len(deletions))
	for _, d := range deletions {
		k := metadata.ScramKey(d)
		if !have[k] {
			missing = append(missing, d)
			continue
		}
		delete(have, k)
		recs = append(recs, d)
	}
	for _, u := range upserts {
		recs = append(recs, u)
	}
	if err := c.propose(recs); err != nil {
		return nil, fmt.Errorf("alter scram credentials: %w", err)
	}
	return missing, nil
}
