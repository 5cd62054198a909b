package partition

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/sluice/sluice/internal/vfs"
	"github.com/sluice/sluice/segment"
)

// Repair: the operator's way back for an offline partition (offline.go).
//
// Repair validates every batch of a partition's segments from the first, as
// recovery does, and finds the first invalid one (corrupt or torn, or a
// segment that starts below the end of the one before). Repairing truncates
// that segment to the end of its last valid batch and deletes every later
// segment; it lowers the partition's recovery-point checkpoint entry to the
// new log end and removes the clean-shutdown marker, so the next start
// recovers the partition (rebuilding its indexes, dropping producer
// snapshots and leader epochs above the new end). Everything from the first
// invalid batch on is lost: the report says which offsets and how many
// bytes. Repair takes the data directory's lock, so it refuses to run while
// sluiced holds it.

// RepairOptions selects what Repair looks at and whether it changes files.
type RepairOptions struct {
	Dir       string // the data directory
	Topic     string // "" for every partition
	Partition int32  // with Topic; -1 for every partition of Topic
	Execute   bool   // false: plan only, change nothing
	Logger    *slog.Logger
}

// RepairReport is one partition's state as Repair found it.
type RepairReport struct {
	Topic     string
	Partition int32
	Dir       string
	// Damaged: the log holds invalid data; the fields below describe it.
	Damaged bool
	File    string // the segment holding the first invalid batch
	// Position is where in File the valid data ends (the truncation point).
	Position int64
	// FirstLostOffset is the first offset that is lost: the new log end.
	FirstLostOffset int64
	// EndLostOffset bounds the lost offsets from above (exclusive): the
	// largest of the checkpointed recovery point and the end of any valid
	// batch found after the damage. Offsets in [FirstLostOffset,
	// EndLostOffset) are gone; the corrupt bytes themselves may have held
	// more.
	EndLostOffset int64
	LostBytes     int64 // bytes removed: the bad segment's tail plus later segments
	LostSegments  int   // whole segments deleted
	Reason        string
	Repaired      bool // Execute was set and the files were changed
}

// Repair plans (or, with Execute, performs) the truncation of every
// selected partition to its last valid batch. It returns a report per
// partition examined, damaged or not, sorted by topic then partition.
func Repair(o RepairOptions) ([]RepairReport, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	s := &store{cfg: StoreConfig{Dir: o.Dir}, logger: o.Logger}
	if _, err := os.Stat(o.Dir); err != nil {
		return nil, fmt.Errorf("cannot open data directory: %w", err)
	}
	if err := s.takeLock(); err != nil {
		return nil, err
	}
	defer s.lock.Close()
	rps, err := readOffsetCheckpoint(vfs.Default, filepath.Join(o.Dir, recoveryPointFile))
	if err != nil {
		rps = map[topicPartition]int64{}
	}
	tps, err := repairTargets(o)
	if err != nil {
		return nil, err
	}
	var out []RepairReport
	lowered := false
	for _, tp := range tps {
		rp, ok := rps[tp]
		if !ok {
			rp = -1
		}
		r, err := examinePartition(filepath.Join(o.Dir, tp.String()), tp, rp)
		if err != nil {
			return out, err
		}
		if r.Damaged && o.Execute {
			if err := r.truncate(); err != nil {
				return out, fmt.Errorf("cannot repair %s: %w", tp, err)
			}
			r.Repaired = true
			if ok {
				rps[tp] = min(rp, r.FirstLostOffset)
			}
			lowered = true
			o.Logger.Warn("partition repaired: truncated to its last valid batch", "partition", tp.String(),
				"file", r.File, "position", r.Position, "first_lost_offset", r.FirstLostOffset,
				"end_lost_offset", r.EndLostOffset, "lost_bytes", r.LostBytes)
		}
		out = append(out, r)
	}
	if lowered {
		if err := finishRepair(o.Dir, rps); err != nil {
			return out, err
		}
	}
	return out, nil
}

// finishRepair writes the lowered recovery points and removes the
// clean-shutdown marker so that the next start recovers.
func finishRepair(dir string, rps map[topicPartition]int64) error {
	if err := writeOffsetCheckpoint(vfs.Default, filepath.Join(dir, recoveryPointFile), rps); err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(dir, cleanShutdownFile)); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("cannot remove clean-shutdown marker: %w", err)
	}
	return syncDir(vfs.Default, dir)
}

// repairTargets lists the partition directories Repair looks at.
func repairTargets(o RepairOptions) ([]topicPartition, error) {
	entries, err := os.ReadDir(o.Dir)
	if err != nil {
		return nil, fmt.Errorf("cannot list data directory %q: %w", o.Dir, err)
	}
	var tps []topicPartition
	for _, e := range entries {
		name := e.Name()
		if !e.IsDir() || name == metadataLogDir || strings.HasSuffix(name, deleteDirSuffix) || strings.HasSuffix(name, newDirSuffix) {
			continue
		}
		m := partitionDir.FindStringSubmatch(name)
		if m == nil {
			continue
		}
		p, err := strconv.ParseInt(m[2], 10, 32)
		if err != nil {
			continue
		}
		tp := topicPartition{m[1], int32(p)}
		if o.Topic != "" && (tp.topic != o.Topic || o.Partition >= 0 && tp.partition != o.Partition) {
			continue
		}
		tps = append(tps, tp)
	}
	if o.Topic != "" && len(tps) == 0 {
		what := fmt.Sprintf("topic %q", o.Topic)
		if o.Partition >= 0 {
			what = fmt.Sprintf("%s-%d", o.Topic, o.Partition)
		}
		return nil, fmt.Errorf("no partition directory for %s in %q", what, o.Dir)
	}
	sort.Slice(tps, func(i, j int) bool {
		if tps[i].topic != tps[j].topic {
			return tps[i].topic < tps[j].topic
		}
		return tps[i].partition < tps[j].partition
	})
	return tps, nil
}

// examinePartition validates every batch of dir's segments.
func examinePartition(dir string, tp topicPartition, rp int64) (RepairReport, error) {
	r := RepairReport{Topic: tp.topic, Partition: tp.partition, Dir: dir}
	bases, err := segmentBases(dir)
	if err != nil || len(bases) == 0 {
		return r, err
	}
	next := bases[0]
	for i, base := range bases {
		path := fileName(dir, base, logSuffix)
		end, last, size, why, err := validateSegmentFile(path)
		if err != nil {
			return r, err
		}
		if i > 0 && base < next {
			end, last, why = 0, -1, fmt.Errorf("%w: segment starts at offset %d, below the end %d of the one before",
				segment.ErrCorrupt, base, next)
		}
		if last >= 0 {
			next = last + 1
		} else {
			next = max(next, base)
		}
		if why == nil || errors.Is(why, segment.ErrZeroTail) && i == len(bases)-1 {
			// Zeros after the last segment's last batch are what appends
			// under fsync=always write ahead (a start drops them): no damage.
			continue
		}
		r.Damaged, r.File, r.Position, r.Reason = true, path, end, why.Error()
		r.FirstLostOffset, r.EndLostOffset, r.LostBytes = next, max(next, rp), size-end
		return r, r.measureLater(bases[i+1:])
	}
	return r, nil
}

// measureLater adds the segments after the damaged one to the lost range.
func (r *RepairReport) measureLater(bases []int64) error {
	for _, base := range bases {
		_, last, size, _, err := validateSegmentFile(fileName(r.Dir, base, logSuffix))
		if err != nil {
			return err
		}
		r.LostBytes += size
		r.LostSegments++
		r.EndLostOffset = max(r.EndLostOffset, base, last+1)
	}
	return nil
}

// validateSegmentFile walks path's batches, returning the end of the valid
// data, the last valid offset (-1: none), the file size, why it stopped
// early (nil at a clean end) and any I/O error.
func validateSegmentFile(path string) (end, last, size int64, why, err error) {
	f, err := segment.Open(path)
	if err != nil {
		return 0, -1, 0, nil, err
	}
	defer f.Close()
	last = -1
	end, rerr := f.Recover(0, func(h segment.Header, _ int64) { last = h.LastOffset() })
	if rerr != nil && !errors.Is(rerr, segment.ErrCorrupt) && !errors.Is(rerr, segment.ErrTorn) {
		return 0, -1, 0, nil, fmt.Errorf("cannot read segment %q: %w", path, rerr)
	}
	return end, last, f.Size(), rerr, nil
}

// segmentBases lists dir's segment base offsets, ascending.
func segmentBases(dir string) ([]int64, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("cannot list %q: %w", dir, err)
	}
	var bases []int64
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, logSuffix) || len(name) != 20+len(logSuffix) {
			continue
		}
		if base, err := strconv.ParseInt(strings.TrimSuffix(name, logSuffix), 10, 64); err == nil {
			bases = append(bases, base)
		}
	}
	sort.Slice(bases, func(i, j int) bool { return bases[i] < bases[j] })
	return bases, nil
}

// truncate cuts the damaged segment at Position (fsync'd) and deletes every
// later segment's files.
func (r *RepairReport) truncate() error {
	bases, err := segmentBases(r.Dir)
	if err != nil {
		return err
	}
	f, err := segment.Open(r.File)
	if err != nil {
		return err
	}
	err = errors.Join(f.Truncate(r.Position), f.Sync(), f.Close())
	if err != nil {
		return fmt.Errorf("cannot truncate %q: %w", r.File, err)
	}
	for _, base := range bases {
		if fileName(r.Dir, base, logSuffix) <= r.File {
			continue
		}
		for _, suffix := range []string{logSuffix, indexSuffix, timeIndexSuffix, txnIndexSuffix} {
			if err := os.Remove(fileName(r.Dir, base, suffix)); err != nil && !os.IsNotExist(err) {
				return fmt.Errorf("cannot remove segment file: %w", err)
			}
		}
	}
	return syncDir(vfs.Default, r.Dir)
}
