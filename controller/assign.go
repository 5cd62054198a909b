package controller

import (
	"fmt"
	"slices"

	"github.com/sluice/sluice/metadata"
)

// assign returns each partition's replicas (the first is the preferred
// leader) over the unfenced brokers, as Kafka's AdminUtils does: brokers in
// a rack-alternated order (one of each rack in turn), the first replica of
// partition p on broker (start+p) mod n so leaders spread round-robin, the
// followers after it with a shift that grows every n partitions; when racks
// are set, a follower prefers a rack the partition does not use yet.
func assign(im *metadata.Image, partitions int32, rf int16) ([][]int32, error) {
	brokers := rackAlternated(im)
	n := len(brokers)
	if rf < 1 || int(rf) > n {
		return nil, fmt.Errorf("%w: %d with %d unfenced brokers", ErrInvalidReplication, rf, n)
	}
	start := len(im.TopicNames()) % n // spread the first leader across topics
	racks := map[string]bool{}
	for _, b := range brokers {
		racks[b.Rack] = true
	}
	out := make([][]int32, partitions)
	for p := range int(partitions) {
		first := (start + p) % n
		shift := p / n
		replicas := []int32{brokers[first].ID}
		used := map[string]bool{brokers[first].Rack: true}
		var candidates []int
		for k := range n - 1 {
			candidates = append(candidates, (first+1+(shift+k)%(n-1))%n)
		}
		for len(replicas) < int(rf) {
			pick := -1
			for i, idx := range candidates {
				if len(used) < len(racks) && used[brokers[idx].Rack] {
					continue // another rack is still free
				}
				pick = i
				break
			}
			if pick < 0 {
				pick = 0
			}
			b := brokers[candidates[pick]]
			candidates = slices.Delete(candidates, pick, pick+1)
			replicas = append(replicas, b.ID)
			used[b.Rack] = true
		}
		out[p] = replicas
	}
	return out, nil
}

// rackAlternated lists the unfenced brokers one rack at a time: racks in
// name order, brokers by id within a rack (Kafka's
// getRackAlternatedBrokerList). Without racks it is the brokers by id.
func rackAlternated(im *metadata.Image) []metadata.Broker {
	byRack := map[string][]metadata.Broker{}
	var rackNames []string
	for _, b := range im.Brokers() {
		if b.Fenced {
			continue
		}
		if _, ok := byRack[b.Rack]; !ok {
			rackNames = append(rackNames, b.Rack)
		}
		byRack[b.Rack] = append(byRack[b.Rack], b)
	}
	slices.Sort(rackNames)
	var out []metadata.Broker
	for i := 0; ; i++ {
		added := false
		for _, r := range rackNames {
			if i < len(byRack[r]) {
				out = append(out, byRack[r][i])
				added = true
			}
		}
		if !added {
			return out
		}
	}
}

// electOnFence returns the partition changes for fencing broker lost: it
// leaves every ISR it is in (unless it is the last member, kept so the
// partition's data is not forgotten; with elr it leaves it too, for the
// ELR), and each partition it led gets the first other live ISR replica in
// replica order as leader (leader epoch + 1), else with elr a live
// eligible leader replica (elr.go), or no leader; where unclean (a
// topic's unclean.leader.election.enable, unclean.go) allows it, the first
// live replica (ISR = it).
func electOnFence(im *metadata.Image, lost int32, unclean func(topic string) bool, elr bool) []metadata.Record {
	live := func(id int32) bool {
		b, ok := im.Broker(id)
		return ok && !b.Fenced && id != lost
	}
	var recs []metadata.Record
	for _, name := range im.TopicNames() {
		t, _ := im.Topic(name)
		for _, p := range t.Partitions {
			if !slices.Contains(p.Replicas, lost) {
				continue
			}
			isr := slices.DeleteFunc(slices.Clone(p.ISR), func(r int32) bool { return r == lost })
			if len(isr) == 0 && !elr {
				isr = slices.Clone(p.ISR)
			}
			leader := p.Leader
			if leader == lost || leader == metadata.NoLeader {
				leader = metadata.NoLeader
				for _, r := range p.Replicas {
					if slices.Contains(isr, r) && live(r) {
						leader = r
						break
					}
				}
				if r, ok := elrLeader(afterFence(p, lost), live); leader == metadata.NoLeader && elr && ok {
					leader, isr = r, []int32{r}
				}
				if leader == metadata.NoLeader && unclean(name) {
					for _, r := range p.Replicas {
						if live(r) {
							leader, isr = r, []int32{r}
							break
						}
					}
				}
			}
			if rec, changed := change(t.ID, p, leader, isr); changed {
				recs = append(recs, rec)
			}
		}
	}
	return recs
}

// electOnUnfence returns the changes that make broker back the leader of
// the leaderless partitions whose ISR names it (with elr, also of those
// whose ISR is empty and that it is eligible to lead; where unclean allows
// it, of every leaderless partition it is a replica of).
func electOnUnfence(im *metadata.Image, back int32, unclean func(topic string) bool, elr bool) []metadata.Record {
	var recs []metadata.Record
	for _, name := range im.TopicNames() {
		t, _ := im.Topic(name)
		for _, p := range t.Partitions {
			if p.Leader != metadata.NoLeader || !slices.Contains(p.Replicas, back) {
				continue
			}
			isr := p.ISR
			switch {
			case slices.Contains(p.ISR, back):
			case elr && elrEligible(p, back):
				isr = []int32{back}
			case unclean(name):
				isr = []int32{back}
			default:
				continue
			}
			if rec, changed := change(t.ID, p, back, isr); changed {
				recs = append(recs, rec)
			}
		}
	}
	return recs
}

// change returns the PartitionChange taking p to leader and isr, if any.
func change(topic metadata.UUID, p metadata.Partition, leader int32, isr []int32) (metadata.PartitionChange, bool) {
	rec := metadata.PartitionChange{TopicID: topic, Partition: p.Partition, Leader: metadata.NoLeaderChange}
	changed := false
	if leader != p.Leader {
		rec.Leader, changed = leader, true
	}
	if !slices.Equal(isr, p.ISR) {
		rec.ISR, changed = slices.Clone(isr), true
	}
	return rec, changed
}
