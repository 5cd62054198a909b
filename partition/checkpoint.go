package partition

import (
	"bytes"
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/sluice/sluice/internal/vfs"
	"github.com/sluice/sluice/segment"
)

// Kafka's checkpoint files are text: a version line ("0"), a count line,
// then one entry per line. The offset checkpoints at the data-dir root hold
// "topic partition offset"; a partition's leader-epoch-checkpoint holds
// "epoch startOffset". A file that does not parse is corrupt (its error
// wraps segment.ErrCorrupt), never an I/O error.
const checkpointVersion = 0

type topicPartition struct {
	topic     string
	partition int32
}

func (tp topicPartition) String() string { return fmt.Sprintf("%s-%d", tp.topic, tp.partition) }

// writeFileAtomic writes data to path via a temporary file, fsync and
// rename, then fsyncs the directory, so a crash leaves the old or the new
// file, never a torn one.
func writeFileAtomic(fsys vfs.FS, path string, data []byte) error {
	if err := writeViaTemp(fsys, path, data, true); err != nil {
		return err
	}
	return syncDir(fsys, filepath.Dir(path))
}

// writeViaTemp writes data to path.tmp (fsync'd if sync) and renames it
// over path.
func writeViaTemp(fsys vfs.FS, path string, data []byte, sync bool) error {
	tmp := path + ".tmp"
	f, err := fsys.Create(tmp)
	if err != nil {
		return fmt.Errorf("cannot create %q: %w", tmp, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("cannot write %q: %w", tmp, err)
	}
	if sync {
		if err := f.Sync(); err != nil {
			f.Close()
			return fmt.Errorf("cannot fsync %q: %w", tmp, err)
		}
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("cannot close %q: %w", tmp, err)
	}
	if err := fsys.Rename(tmp, path); err != nil {
		return fmt.Errorf("cannot rename %q: %w", tmp, err)
	}
	return nil
}

func syncDir(fsys vfs.FS, dir string) error {
	if err := vfs.SyncDir(fsys, dir); err != nil {
		return fmt.Errorf("cannot fsync directory %q: %w", dir, err)
	}
	return nil
}

// writeOffsetCheckpoint writes "topic partition offset" entries.
func writeOffsetCheckpoint(fsys vfs.FS, path string, offsets map[topicPartition]int64) error {
	return writeFileAtomic(fsys, path, encodeOffsetCheckpoint(offsets))
}

// encodeOffsetCheckpoint is the text of an offset checkpoint, entries
// sorted by topic and partition.
func encodeOffsetCheckpoint(offsets map[topicPartition]int64) []byte {
	tps := make([]topicPartition, 0, len(offsets))
	for tp := range offsets {
		tps = append(tps, tp)
	}
	sort.Slice(tps, func(i, j int) bool {
		if tps[i].topic != tps[j].topic {
			return tps[i].topic < tps[j].topic
		}
		return tps[i].partition < tps[j].partition
	})
	var b bytes.Buffer
	fmt.Fprintf(&b, "%d\n%d\n", checkpointVersion, len(tps))
	for _, tp := range tps {
		fmt.Fprintf(&b, "%s %d %d\n", tp.topic, tp.partition, offsets[tp])
	}
	return b.Bytes()
}

// readOffsetCheckpoint reads a file written by writeOffsetCheckpoint. A
// missing file is an empty map.
func readOffsetCheckpoint(fsys vfs.FS, path string) (map[topicPartition]int64, error) {
	out := make(map[topicPartition]int64)
	err := readCheckpoint(fsys, path, 3, offsetEntry(out))
	return out, err
}

// offsetEntry parses "topic partition offset" fields into out.
func offsetEntry(out map[topicPartition]int64) func([]string) error {
	return func(f []string) error {
		p, err1 := strconv.ParseInt(f[1], 10, 32)
		off, err2 := strconv.ParseInt(f[2], 10, 64)
		if err1 != nil || err2 != nil {
			return fmt.Errorf("%w: bad entry %q", segment.ErrCorrupt, strings.Join(f, " "))
		}
		out[topicPartition{f[0], int32(p)}] = off
		return nil
	}
}

// readCheckpoint reads the file at path and parses it (parseCheckpoint).
// A missing file has no entries.
func readCheckpoint(fsys vfs.FS, path string, fields int, fn func([]string) error) error {
	data, err := vfs.ReadFile(fsys, path)
	if vfs.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("cannot read checkpoint %q: %w", path, err)
	}
	if err := parseCheckpoint(data, fields, fn); err != nil {
		return fmt.Errorf("checkpoint %q: %w", path, err)
	}
	return nil
}

// parseCheckpoint parses the version and count lines and hands each
// entry's fields to fn; blank lines and surrounding spaces are ignored.
// Errors wrap segment.ErrCorrupt (fn's own should too). Its work is linear
// in len(data): the count is checked against the lines present.
func parseCheckpoint(data []byte, fields int, fn func([]string) error) error {
	var lines []string
	for l := range strings.SplitSeq(string(data), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) < 2 || lines[0] != strconv.Itoa(checkpointVersion) {
		return fmt.Errorf("%w: bad checkpoint header", segment.ErrCorrupt)
	}
	n, err := strconv.Atoi(lines[1])
	if err != nil || n != len(lines)-2 {
		return fmt.Errorf("%w: checkpoint count %.20q does not match %d entries", segment.ErrCorrupt, lines[1], len(lines)-2)
	}
	for _, l := range lines[2:] {
		f := strings.Fields(l)
		if len(f) != fields {
			return fmt.Errorf("%w: bad checkpoint entry %.100q", segment.ErrCorrupt, l)
		}
		if err := fn(f); err != nil {
			return err
		}
	}
	return nil
}
