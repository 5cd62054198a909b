package console

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"
)

// Point is one sample of a series: Unix milliseconds and a value.
type Point struct {
	T int64   `json:"t"`
	V float64 `json:"v"`
}

// ring is a bounded series: the newest cap points, oldest overwritten.
type ring struct {
	pts  []Point
	next int // where the next point goes once full
}

func newRing(capacity int) *ring { return &ring{pts: make([]Point, 0, capacity)} }

func (r *ring) add(p Point) {
	if len(r.pts) < cap(r.pts) {
		r.pts = append(r.pts, p)
		return
	}
	r.pts[r.next] = p
	r.next = (r.next + 1) % len(r.pts)
}

// since returns the points at or after t, oldest first.
func (r *ring) since(t int64) []Point {
	out := make([]Point, 0, len(r.pts))
	for i := range r.pts {
		p := r.pts[(r.next+i)%len(r.pts)]
		if p.T >= t {
			out = append(out, p)
		}
	}
	return out
}

func (r *ring) last() (Point, bool) {
	if len(r.pts) == 0 {
		return Point{}, false
	}
	return r.pts[(r.next+len(r.pts)-1)%len(r.pts)], true
}

// series is one metric at two resolutions: every sample for the last hour
// (live) and one mean per minute for the retention (history, persisted).
type series struct {
	live, hist *ring
	minute     int64 // the minute being averaged into acc
	acc        float64
	n          int
}

// history holds every series. Bounds: maxSeries series, each with
// liveCap live points and retention/1 min history points, 16 bytes each.
type history struct {
	liveCap, histCap int
	maxSeries        int
	mu               struct {
		sync.Mutex
		s map[string]*series
	}
}

func newHistory(sampleEvery, retention time.Duration, maxSeries int) *history {
	h := &history{liveCap: max(int(time.Hour/sampleEvery), 120), histCap: max(int(retention/time.Minute), 2), maxSeries: maxSeries}
	h.mu.s = map[string]*series{}
	return h
}

// add records v for name at t. A new series beyond maxSeries is dropped
// (reported false).
func (h *history) add(name string, t time.Time, v float64) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.seriesLocked(name)
	if s == nil {
		return false
	}
	ms := t.UnixMilli()
	s.live.add(Point{ms, v})
	minute := ms / 60000
	if s.n > 0 && minute != s.minute {
		s.hist.add(Point{s.minute * 60000, s.acc / float64(s.n)})
		s.acc, s.n = 0, 0
	}
	s.minute = minute
	s.acc += v
	s.n++
	return true
}

func (h *history) seriesLocked(name string) *series {
	s := h.mu.s[name]
	if s == nil {
		if len(h.mu.s) >= h.maxSeries {
			return nil
		}
		s = &series{live: newRing(h.liveCap), hist: newRing(h.histCap)}
		h.mu.s[name] = s
	}
	return s
}

// get returns name's points since t: live points when t is within the
// last hour, else the per-minute history (with the current minute's mean).
func (h *history) get(name string, since time.Time) []Point {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.mu.s[name]
	if s == nil {
		return []Point{}
	}
	t := since.UnixMilli()
	if last, ok := s.live.last(); ok && last.T-t <= int64(time.Hour/time.Millisecond) {
		return s.live.since(t)
	}
	pts := s.hist.since(t)
	if s.n > 0 {
		pts = append(pts, Point{s.minute * 60000, s.acc / float64(s.n)})
	}
	return pts
}

func (h *history) names() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]string, 0, len(h.mu.s))
	for k := range h.mu.s {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// The history file, written whole (to a temporary file, fsync'd, then
// renamed) every minute and at close:
//
//	| magic "SLCH" (4B) | version 1 (1B) | series count uint32 |
//	then per series: | name length uint16 | name | point count uint32 | points: (T int64, V float64)… |
//	| CRC-32C of everything before (4B) |
//
// Integers are big-endian. A file that fails its CRC is ignored (logged):
// history is a convenience, the broker starts without it.
const historyMagic = "SLCH"

var errHistoryCorrupt = errors.New("console: history file corrupt")

func (h *history) save(path string) error {
	h.mu.Lock()
	size := 9
	for name, s := range h.mu.s {
		size += 6 + len(name) + 16*len(s.hist.pts)
	}
	buf := make([]byte, 0, size+4)
	buf = append(buf, historyMagic...)
	buf = append(buf, 1)
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(h.mu.s)))
	for name, s := range h.mu.s {
		pts := s.hist.since(math.MinInt64)
		buf = binary.BigEndian.AppendUint16(buf, uint16(len(name)))
		buf = append(buf, name...)
		buf = binary.BigEndian.AppendUint32(buf, uint32(len(pts)))
		for _, p := range pts {
			buf = binary.BigEndian.AppendUint64(buf, uint64(p.T))
			buf = binary.BigEndian.AppendUint64(buf, math.Float64bits(p.V))
		}
	}
	h.mu.Unlock()
	buf = binary.BigEndian.AppendUint32(buf, crc32.Checksum(buf, crc32.MakeTable(crc32.Castagnoli)))
	return writeFileAtomic(path, buf)
}

func writeFileAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("cannot create %q: %w", filepath.Dir(path), err)
	}
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("cannot create %q: %w", tmp, err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("cannot write %q: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("cannot rename %q: %w", tmp, err)
	}
	return nil
}

// load reads a history file written by save; points older than keepAfter
// are dropped. A missing file is no error.
func (h *history) load(path string, keepAfter time.Time) error {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("cannot read %q: %w", path, err)
	}
	if len(data) < 13 || string(data[:4]) != historyMagic || data[4] != 1 ||
		crc32.Checksum(data[:len(data)-4], crc32.MakeTable(crc32.Castagnoli)) != binary.BigEndian.Uint32(data[len(data)-4:]) {
		return fmt.Errorf("%q: %w", path, errHistoryCorrupt)
	}
	b := data[5 : len(data)-4]
	n, b, ok := take32(b)
	if !ok {
		return fmt.Errorf("%q: %w", path, errHistoryCorrupt)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for range n {
		var err error
		if b, err = h.loadSeriesLocked(b, keepAfter.UnixMilli()); err != nil {
			return fmt.Errorf("%q: %w: %v", path, errHistoryCorrupt, err)
		}
	}
	return nil
}

func take32(b []byte) (uint32, []byte, bool) {
	if len(b) < 4 {
		return 0, b, false
	}
	return binary.BigEndian.Uint32(b), b[4:], true
}

func (h *history) loadSeriesLocked(b []byte, keepAfter int64) ([]byte, error) {
	if len(b) < 2 {
		return b, io.ErrUnexpectedEOF
	}
	nl := int(binary.BigEndian.Uint16(b))
	if len(b) < 2+nl {
		return b, io.ErrUnexpectedEOF
	}
	name := string(b[2 : 2+nl])
	np, b, ok := take32(b[2+nl:])
	if !ok || uint64(len(b)) < 16*uint64(np) {
		return b, io.ErrUnexpectedEOF
	}
	s := h.seriesLocked(name)
	for i := range int(np) {
		t := int64(binary.BigEndian.Uint64(b[16*i:]))
		v := math.Float64frombits(binary.BigEndian.Uint64(b[16*i+8:]))
		if s != nil && t >= keepAfter {
			s.hist.add(Point{t, v})
		}
	}
	return b[16*int(np):], nil
}
