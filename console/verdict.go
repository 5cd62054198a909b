package console

import "time"

// Verdicts, Burrow's partition states named as the console shows them.
const (
	VerdictOK      = "OK"
	VerdictLagging = "lagging" // Burrow's WARN: offsets move, lag does not fall over the window
	VerdictStalled = "stalled" // members present, committed offset still, lag > 0
	VerdictStopped = "stopped" // no members (or no commits), lag > 0 and not falling
)

// lagSample is one sample of a group's position on a partition.
type lagSample struct {
	t         int64 // Unix ms
	committed int64
	end       int64
}

func (s lagSample) lag() int64 { return max(s.end-s.committed, 0) }

// lagKey names a group's partition.
type lagKey struct {
	group, topic string
	partition    int32
}

// lagWindow keeps the last window samples per group partition (Burrow
// evaluates a window of 10 commits; here it is 10 samples).
const lagWindow = 10

// verdict applies Burrow's rules to a partition's window (oldest first),
// active telling whether the group has members:
//  1. any sample with zero lag: OK;
//  2. the committed offset never moved and lag is fixed or growing: stalled
//     when the group has members, stopped when it has none (an idle group
//     whose lag only grows is stopped, not OK);
//  3. the committed offset moved but lag grew at every step: lagging;
//  4. otherwise OK.
//
// With one sample, lag > 0 is stopped for a group without members, else OK
// until a window builds up.
func verdict(w []lagSample, active bool) string {
	if len(w) == 0 {
		return VerdictOK
	}
	for _, s := range w {
		if s.lag() == 0 {
			return VerdictOK
		}
	}
	if len(w) == 1 {
		if !active {
			return VerdictStopped
		}
		return VerdictOK
	}
	first, last := w[0], w[len(w)-1]
	if first.committed == last.committed && last.lag() >= first.lag() {
		if active {
			return VerdictStalled
		}
		return VerdictStopped
	}
	if !active && last.lag() >= first.lag() {
		return VerdictStopped
	}
	growing := true
	for i := 1; i < len(w); i++ {
		if w[i].lag() <= w[i-1].lag() {
			growing = false
			break
		}
	}
	if growing {
		return VerdictLagging
	}
	return VerdictOK
}

// worse orders verdicts: stopped > stalled > lagging > OK.
func worse(a, b string) string {
	rank := map[string]int{VerdictOK: 0, VerdictLagging: 1, VerdictStalled: 2, VerdictStopped: 3}
	if rank[b] > rank[a] {
		return b
	}
	return a
}

// lagTracker keeps the windows, bounded to maxKeys group partitions.
type lagTracker struct {
	maxKeys int
	w       map[lagKey][]lagSample
}

func (lt *lagTracker) add(now time.Time, entries []LagEntry) {
	seen := make(map[lagKey]bool, len(entries))
	for _, e := range entries {
		k := lagKey{e.Group, e.Topic, e.Partition}
		seen[k] = true
		w, ok := lt.w[k]
		if !ok && len(lt.w) >= lt.maxKeys {
			continue
		}
		w = append(w, lagSample{now.UnixMilli(), e.Committed, e.End})
		if len(w) > lagWindow {
			w = w[len(w)-lagWindow:]
		}
		lt.w[k] = w
	}
	for k := range lt.w {
		if !seen[k] {
			delete(lt.w, k)
		}
	}
}

func (lt *lagTracker) window(k lagKey) []lagSample {
	return append([]lagSample(nil), lt.w[k]...)
}
