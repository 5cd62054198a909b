package partition

import (
	"hash/fnv"
	"time"
)

// cleanMark is one finished cleaning: every offset below end was in its
// cleaned section at time at (Unix ms).
type cleanMark struct {
	end int64
	at  int64
}

// cleanPlan is what one cleaning may touch: the inactive segments below
// the first uncleanable offset, pinned, with their clean/dirty split.
type cleanPlan struct {
	segs        []*logSegment // ascending, each referenced (releaseAll)
	nexts       []int64       // the base offset after each
	firstDirty  int64         // first offset after the last cleaning
	uncleanable int64         // first offset the cleaning must not touch
	cleanBytes  int64
	dirtyBytes  int64
}

func (p *cleanPlan) release() { releaseAll(p.segs) }

// ratio is dirty / (clean + dirty), 0 when empty.
func (p *cleanPlan) ratio() float64 {
	if p.cleanBytes+p.dirtyBytes == 0 {
		return 0
	}
	return float64(p.dirtyBytes) / float64(p.cleanBytes+p.dirtyBytes)
}

func (l *log) cleanerCheckpoint() int64 {
	l.cleaner.Lock()
	defer l.cleaner.Unlock()
	return l.cleaner.firstDirty
}

// firstDirtyOffset is the cleaner checkpoint clamped to the log: a missing
// or stale one (below the log start, past the end) means the log start.
func (l *log) firstDirtyOffset(logStart, leo int64) int64 {
	fd := l.cleanerCheckpoint()
	if fd < logStart || fd > leo {
		return logStart
	}
	return fd
}

// inactiveLocked returns the segments readers see whole (not the active
// one, nothing at or past the high watermark) with their next bases. The
// segment holding the high watermark is left out even when it is full (a
// roll added the next one, the round has not published yet): readers find
// their limit in it by identity, so it must not be swapped out.
func (l *log) inactiveLocked() ([]*logSegment, []int64) {
	segs := l.mu.segments
	var out []*logSegment
	var nexts []int64
	for i := 0; i+1 < len(segs); i++ {
		next := segs[i+1].base
		if next > l.mu.hw || segs[i] == l.mu.hwSeg {
			break
		}
		out = append(out, segs[i])
		nexts = append(nexts, next)
	}
	return out, nexts
}

// dirtyRatio is the log's dirty ratio by segment sizes (no lag rule).
func (l *log) dirtyRatio() float64 {
	if !l.config().Compact() {
		return 0
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.mu.closed {
		return 0
	}
	segs, nexts := l.inactiveLocked()
	p := cleanPlan{firstDirty: l.firstDirtyOffset(l.mu.logStart, l.mu.leo)}
	p.split(segs, nexts)
	return p.ratio()
}

// split sums segment sizes into clean (wholly below firstDirty) and dirty.
func (p *cleanPlan) split(segs []*logSegment, nexts []int64) {
	p.cleanBytes, p.dirtyBytes = 0, 0
	for i, s := range segs {
		if nexts[i] <= p.firstDirty {
			p.cleanBytes += s.log.Size()
		} else {
			p.dirtyBytes += s.log.Size()
		}
	}
}

// planCleaning pins the cleanable segments: inactive ones, up to the first
// whose newest record is younger than min.compaction.lag.ms. It returns nil
// when nothing is dirty.
func (l *log) planCleaning(now time.Time, cfg Config) (*cleanPlan, error) {
	l.mu.RLock()
	if l.mu.closed {
		l.mu.RUnlock()
		return nil, ErrClosed
	}
	segs, nexts := l.inactiveLocked()
	for _, s := range segs {
		s.acquire()
	}
	p := &cleanPlan{firstDirty: l.firstDirtyOffset(l.mu.logStart, l.mu.leo)}
	lso := l.lsoLocked()
	l.mu.RUnlock()
	keep, err := lagCut(segs, now, cfg.MinCompactionLagMs)
	if err != nil {
		releaseAll(segs)
		return nil, err
	}
	for keep > 0 && nexts[keep-1] > lso {
		keep-- // open transactions are not cleaned (cleantxn.go)
	}
	releaseAll(segs[keep:])
	p.segs, p.nexts = segs[:keep], nexts[:keep]
	if keep == 0 || p.nexts[keep-1] <= p.firstDirty {
		p.release()
		return nil, nil
	}
	p.uncleanable = p.nexts[keep-1]
	p.split(p.segs, p.nexts)
	return p, nil
}

// lagCut is how many of segs (from the oldest) have only records older
// than lagMs.
func lagCut(segs []*logSegment, now time.Time, lagMs int64) (int, error) {
	if lagMs <= 0 {
		return len(segs), nil
	}
	for i, s := range segs {
		ts, err := s.largestTimestamp()
		if err != nil {
			return 0, err
		}
		if ts > now.UnixMilli()-lagMs {
			return i, nil
		}
	}
	return len(segs), nil
}

// due reports whether the plan is worth a cleaning: the dirty ratio reached
// min.cleanable.dirty.ratio, or the oldest dirty record is older than
// max.compaction.lag.ms.
func (p *cleanPlan) due(cfg Config, now time.Time) bool {
	if p.dirtyBytes == 0 {
		return false
	}
	if p.ratio() >= cfg.MinCleanableDirtyRatio {
		return true
	}
	if cfg.MaxCompactionLagMs == maxLag {
		return false
	}
	for i, s := range p.segs {
		if p.nexts[i] <= p.firstDirty || s.log.Size() == 0 {
			continue
		}
		h, err := s.log.ReadHeaderAt(0)
		return err == nil && now.UnixMilli()-h.MaxTimestamp > cfg.MaxCompactionLagMs
	}
	return false
}

// maxLag is max.compaction.lag.ms's default: off.
const maxLag = 1<<63 - 1

// tombstoneHorizon is the offset below which tombstones may go at now: the
// end of the newest cleaning at least delete.retention.ms old (-1: none).
func (l *log) tombstoneHorizon(now, retentionMs int64) int64 {
	l.cleaner.Lock()
	defer l.cleaner.Unlock()
	h := int64(-1)
	for _, m := range l.cleaner.marks {
		if now-m.at >= retentionMs {
			h = max(h, m.end)
		}
	}
	return h
}

// finishCleaning moves the checkpoint to end and remembers the cleaning.
// Marks old enough to count for tombstones collapse into the newest of
// them, which dominates.
func (l *log) finishCleaning(end, now, retentionMs int64) {
	l.cleaner.Lock()
	defer l.cleaner.Unlock()
	l.cleaner.firstDirty = max(l.cleaner.firstDirty, end)
	var old *cleanMark
	kept := l.cleaner.marks[:0]
	for _, m := range l.cleaner.marks {
		if now-m.at >= retentionMs {
			if old == nil || m.end > old.end {
				old = &m
			}
			continue
		}
		kept = append(kept, m)
	}
	if old != nil {
		kept = append([]cleanMark{*old}, kept...)
	}
	l.cleaner.marks = append(kept, cleanMark{end: end, at: now})
}

// compactionRollMs is the age at which the active segment rolls: segment.ms
// less the segment's jitter, or max.compaction.lag.ms when smaller on a
// compacted log.
func compactionRollMs(cfg Config, seed int64) int64 {
	if cfg.Compact() && cfg.MaxCompactionLagMs < cfg.SegmentMs {
		return cfg.MaxCompactionLagMs
	}
	return cfg.SegmentMs - segmentJitter(cfg, seed)
}

// rollDue reports whether seg, the active segment, is older than its roll
// age (compactionRollMs). Every append asks, so the answer comes without
// the seed's hash while the segment is younger than any roll age its
// config allows: segment.ms less all of segment.jitter.ms, and
// max.compaction.lag.ms.
func (l *log) rollDue(cfg *Config, seg *logSegment, now time.Time) bool {
	age := now.Sub(seg.created).Milliseconds()
	if age <= cfg.SegmentMs-cfg.SegmentJitterMs && age <= cfg.MaxCompactionLagMs {
		return false
	}
	return age > compactionRollMs(*cfg, l.jitterSeed(seg.base))
}

// jitterSeed identifies a segment of this log for segmentJitter: its base
// offset mixed with the topic and partition, so the partitions of a topic
// created together draw different jitters.
func (l *log) jitterSeed(base int64) int64 {
	h := fnv.New64a()
	h.Write([]byte(l.topic))
	return base ^ int64(h.Sum64()) ^ int64(l.partition)<<32
}

// segmentJitter is a segment's share of segment.jitter.ms: Kafka draws it
// at random when the segment is created; deriving it from the segment's
// seed (a splitmix64 step) gives the same spread and survives a restart.
// Below segment.ms, so the roll age stays positive.
func segmentJitter(cfg Config, seed int64) int64 {
	bound := min(cfg.SegmentJitterMs, cfg.SegmentMs-1)
	if bound <= 0 {
		return 0
	}
	z := uint64(seed) + 0x9e3779b97f4a7c15
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	z ^= z >> 31
	return int64(z % uint64(bound))
}

// rollIfIdle rolls a compacted log's active segment once it is older than
// its roll age and holds data, even without an append (Kafka rolls only on
// append, so an idle topic's last segment would stay uncleaned forever).
func (l *log) rollIfIdle(now time.Time) error {
	cfg := l.cfg.Load()
	if !cfg.Compact() {
		return nil
	}
	l.wmu.Lock() // no round in progress
	defer l.wmu.Unlock()
	l.mu.RLock()
	if l.appendableLocked() != nil {
		// Closed (a closed log has no segments: the cleaner may hold it
		// from its list while DeleteTopics or shutdown closes it) or
		// offline: nothing to roll.
		l.mu.RUnlock()
		return nil
	}
	a, leo := l.active(), l.mu.leo
	l.mu.RUnlock()
	if a.log.Size() == 0 || !l.rollDue(cfg, a, now) {
		return nil
	}
	rd := round{startOffset: leo, startSeg: a, startPos: a.log.Size(), next: leo, seg: a}
	if err := l.roll(&rd, cfg, now); err != nil {
		return err
	}
	l.mu.Lock()
	l.setLEOLocked(leo, rd.seg, 0)
	l.mu.Unlock()
	return nil
}
