package partition

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/sluice/sluice/internal/vfs"
	"github.com/sluice/sluice/segment"
)

// The swap sequence (see doc.go) and its completion at open.

// Steps of the swap sequence, in order, named for cleanerHook.
const (
	stepCleaned        = "cleaned"         // new files written and fsync'd as .cleaned
	stepSwapPartial    = "swap-partial"    // the first .cleaned renamed to .swap
	stepSwapped        = "swapped"         // every .cleaned renamed to .swap: committed
	stepDeletedPartial = "deleted-partial" // the first old segment renamed to .deleted
	stepDeleted        = "deleted"         // every old segment renamed to .deleted
	stepRenamedPartial = "renamed-partial" // the first .swap renamed to its final name
	stepRenamed        = "renamed"         // every .swap renamed: the files are final
	stepSwappedIn      = "swapped-in"      // the log's segment list holds the new segments
)

// cleanerSteps lists the steps in order (tests crash at each).
var cleanerSteps = []string{stepCleaned, stepSwapPartial, stepSwapped, stepDeletedPartial,
	stepDeleted, stepRenamedPartial, stepRenamed, stepSwappedIn}

// cleanerHook, when set (tests), is called at each step; an error stops the
// cleaner there as a crash would: nothing is undone or cleaned up.
var cleanerHook func(step string) error

// errInjectedCrash wraps the hook's error.
var errInjectedCrash = errors.New("partition: cleaner stopped by test hook")

func cleanerStep(step string) error {
	if cleanerHook == nil {
		return nil
	}
	if err := cleanerHook(step); err != nil {
		return fmt.Errorf("%w at %s: %w", errInjectedCrash, step, err)
	}
	return nil
}

// segmentSuffixes are a segment's files; a swap renames the .log first. A
// segment without aborted transactions has no .txnindex.
var segmentSuffixes = []string{logSuffix, indexSuffix, timeIndexSuffix, txnIndexSuffix}

// missingTxnIndex reports a rename that failed only because the segment
// has no .txnindex.
func missingTxnIndex(suffix string, err error) bool {
	return suffix == txnIndexSuffix && vfs.IsNotExist(err)
}

// swapIn makes the cleaned segments outs replace old, which must still be
// consecutive in the log. committed reports whether the swap reached its
// commit point (every file renamed to .swap): from there a restart finishes
// it, so the caller must not remove the files. An error after the commit
// point leaves the log refusing appends until a restart finishes the swap.
func (l *log) swapIn(old []*logSegment, outs []*cleanedSeg) (committed bool, err error) {
	l.swapMu.Lock()
	defer l.swapMu.Unlock()
	if err := l.checkSwappable(old); err != nil {
		return false, err
	}
	for _, s := range old {
		// Opened now: once renamed, lazily opening them would fail.
		if _, err := s.indexes(); err != nil {
			return false, err
		}
	}
	if err := l.renameToSwap(outs); err != nil {
		return false, err
	}
	err = l.commitSwap(old, outs)
	if err != nil && !errors.Is(err, errInjectedCrash) {
		l.setOffline(fmt.Errorf("cleaner swap failed after its commit point: %w", err))
	}
	return true, err
}

// checkSwappable checks that the log is open and old is still a run of its
// segments (retention may have deleted some meanwhile).
func (l *log) checkSwappable(old []*logSegment) error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.mu.closed {
		return ErrClosed
	}
	if err := l.offlineLocked(); err != nil {
		return err
	}
	if i := l.indexOfLocked(old[0]); i >= 0 && i+len(old) < len(l.mu.segments) {
		for j, s := range old {
			if l.mu.segments[i+j] != s {
				return errSegmentsChanged
			}
		}
		return nil
	}
	return errSegmentsChanged
}

var errSegmentsChanged = errors.New("partition: segments changed during cleaning")

func (l *log) indexOfLocked(s *logSegment) int {
	for i, t := range l.mu.segments {
		if t == s {
			return i
		}
	}
	return -1
}

// renameToSwap renames every .cleaned file to .swap, then fsyncs the
// directory: the commit point. Before it, a crash leaves .cleaned files
// and the swap is rolled back at open.
func (l *log) renameToSwap(outs []*cleanedSeg) error {
	for i, s := range outs {
		for _, suffix := range segmentSuffixes {
			p := fileName(l.dir, s.base, suffix)
			if err := l.fs.Rename(p+cleanedSuffix, p+swapSuffix); err != nil && !missingTxnIndex(suffix, err) {
				return fmt.Errorf("%w: cannot rename %q: %w", ErrStorage, p+cleanedSuffix, err)
			}
			if i == 0 && suffix == logSuffix {
				if err := cleanerStep(stepSwapPartial); err != nil {
					return err
				}
			}
		}
	}
	if err := syncDir(l.fs, l.dir); err != nil {
		return err
	}
	return cleanerStep(stepSwapped)
}

// commitSwap finishes a committed swap: old files to .deleted, .swap files
// to their final names, then the new segments replace the old in the list.
// Readers holding old segments finish on their open files, which go when
// the last reference is released.
func (l *log) commitSwap(old []*logSegment, outs []*cleanedSeg) error {
	for i, s := range old {
		if err := s.renameForDeletion(); err != nil {
			return fmt.Errorf("%w: %w", ErrStorage, err)
		}
		if i == 0 {
			if err := cleanerStep(stepDeletedPartial); err != nil {
				return err
			}
		}
	}
	if err := cleanerStep(stepDeleted); err != nil {
		return err
	}
	if err := l.renameFromSwap(outs); err != nil {
		return err
	}
	news := make([]*logSegment, 0, len(outs))
	for _, o := range outs {
		s, err := openSegment(l.fs, l.dir, o.base, 0)
		if err != nil {
			releaseAll(news)
			return err
		}
		news = append(news, s)
	}
	l.replaceSegments(old, news)
	return cleanerStep(stepSwappedIn)
}

func (l *log) renameFromSwap(outs []*cleanedSeg) error {
	for i, s := range outs {
		for _, suffix := range segmentSuffixes {
			p := fileName(l.dir, s.base, suffix)
			if err := l.fs.Rename(p+swapSuffix, p); err != nil && !missingTxnIndex(suffix, err) {
				return fmt.Errorf("%w: cannot rename %q: %w", ErrStorage, p+swapSuffix, err)
			}
			if i == 0 && suffix == logSuffix {
				if err := cleanerStep(stepRenamedPartial); err != nil {
					return err
				}
			}
		}
	}
	if err := syncDir(l.fs, l.dir); err != nil {
		return err
	}
	return cleanerStep(stepRenamed)
}

// replaceSegments puts news where old are in the list and drops the log's
// references on old (already renamed to .deleted).
func (l *log) replaceSegments(old, news []*logSegment) {
	l.mu.Lock()
	i := l.indexOfLocked(old[0])
	if i < 0 {
		l.mu.Unlock()
		panic("BUG: swapped segments left the list under swapMu")
	}
	segs := make([]*logSegment, 0, len(l.mu.segments)-len(old)+len(news))
	segs = append(segs, l.mu.segments[:i]...)
	segs = append(segs, news...)
	segs = append(segs, l.mu.segments[i+len(old):]...)
	l.mu.segments = segs
	l.mu.Unlock()
	for _, s := range old {
		s.deleted.Store(true)
		s.Release()
	}
}

// finishSwaps completes or rolls back a swap a crash interrupted. Any
// .cleaned file left means the commit point was not reached: every
// .cleaned and .swap file goes and the old segments stay. Otherwise .swap
// files are a committed swap: the old segments they replace (every segment
// whose base lies in [lowest swap base, past the highest swap base and the
// last offset of every swap segment)) are deleted and the .swap files take
// their final names.
func (l *log) finishSwaps() error {
	cleaned, swaps, err := l.listSwapFiles()
	if err != nil {
		return err
	}
	if len(cleaned) > 0 {
		for _, name := range append(cleaned, swaps...) {
			if err := os.Remove(filepath.Join(l.dir, name)); err != nil && !os.IsNotExist(err) {
				return fmt.Errorf("cannot remove unfinished cleaning file %q: %w", name, err)
			}
		}
		if len(swaps) > 0 {
			l.logger.Warn("rolled back a cleaner swap interrupted before its commit point", "files", len(swaps))
		}
		return nil
	}
	if len(swaps) == 0 {
		return nil
	}
	lo, hi, err := l.swapRange(swaps)
	if err != nil {
		return err
	}
	if err := l.removeReplaced(swaps, lo, hi); err != nil {
		return err
	}
	for _, name := range swaps {
		p := filepath.Join(l.dir, name)
		if err := l.fs.Rename(p, strings.TrimSuffix(p, swapSuffix)); err != nil {
			return fmt.Errorf("cannot finish swap of %q: %w", name, err)
		}
	}
	l.logger.Warn("finished a cleaner swap interrupted by a crash", "files", len(swaps), "from", lo, "to", hi)
	return syncDir(l.fs, l.dir)
}

// listSwapFiles returns the names of the .cleaned and .swap files.
func (l *log) listSwapFiles() (cleaned, swaps []string, err error) {
	entries, err := l.fs.List(l.dir)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot list %q: %w", l.dir, err)
	}
	for _, e := range entries {
		switch name := e.Name(); {
		case strings.HasSuffix(name, cleanedSuffix):
			cleaned = append(cleaned, name)
		case strings.HasSuffix(name, swapSuffix):
			swaps = append(swaps, name)
		}
	}
	return cleaned, swaps, nil
}

// swapRange is the offset range the .log.swap files replace.
func (l *log) swapRange(swaps []string) (lo, hi int64, err error) {
	lo, hi = -1, -1
	for _, name := range swaps {
		if !strings.HasSuffix(name, logSuffix+swapSuffix) {
			continue
		}
		base, err := strconv.ParseInt(strings.TrimSuffix(name, logSuffix+swapSuffix), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("unexpected swap file %q in %q", name, l.dir)
		}
		last, err := lastOffsetOf(l.fs, filepath.Join(l.dir, name))
		if err != nil {
			return 0, 0, err
		}
		if lo < 0 || base < lo {
			lo = base
		}
		hi = max(hi, base+1, last+1)
	}
	return lo, hi, nil
}

// lastOffsetOf validates a .log file and returns its last offset (-1 when
// empty).
func lastOffsetOf(fsys vfs.FS, path string) (int64, error) {
	f, err := segment.OpenFS(fsys, path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	last := int64(-1)
	if _, err := f.Recover(0, func(h segment.Header, _ int64) { last = h.LastOffset() }); err != nil {
		return 0, fmt.Errorf("cannot finish the swap of %q, fsync'd before its commit: %w", path, err)
	}
	return last, nil
}

// removeReplaced deletes the final-named files of segments with a base in
// [lo, hi) that no .swap file is about to replace.
func (l *log) removeReplaced(swaps []string, lo, hi int64) error {
	if lo < 0 {
		return nil
	}
	incoming := make(map[string]bool, len(swaps))
	for _, name := range swaps {
		incoming[strings.TrimSuffix(name, swapSuffix)] = true
	}
	entries, err := l.fs.List(l.dir)
	if err != nil {
		return fmt.Errorf("cannot list %q: %w", l.dir, err)
	}
	for _, e := range entries {
		name := e.Name()
		base, ok := segmentFileBase(name)
		if !ok || base < lo || base >= hi || incoming[name] {
			continue
		}
		if err := l.fs.Remove(filepath.Join(l.dir, name)); err != nil {
			return fmt.Errorf("cannot remove replaced segment file %q: %w", name, err)
		}
	}
	return nil
}

// segmentFileBase parses "<20 digits>.log|.index|.timeindex".
func segmentFileBase(name string) (int64, bool) {
	for _, suffix := range segmentSuffixes {
		if strings.HasSuffix(name, suffix) && len(name) == 20+len(suffix) {
			base, err := strconv.ParseInt(name[:20], 10, 64)
			return base, err == nil
		}
	}
	return 0, false
}
