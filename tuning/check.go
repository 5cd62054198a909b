package tuning

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Host is where the checks read; every part is injectable for tests.
type Host struct {
	ProcRoot string // default "/proc"
	SysRoot  string // default "/sys"
	// NoFile returns the RLIMIT_NOFILE soft limit (default getrlimit).
	NoFile func() (uint64, error)
	// FSType returns the statfs magic of path (default statfs(2)).
	FSType func(path string) (int64, error)
	// Unit, when set, is the systemd unit whose LimitNOFILE is checked
	// instead of NoFile (see UnitNoFile).
	Unit string
}

// DefaultHost reads this machine.
func DefaultHost() Host { return Host{}.fill() }

func (h Host) fill() Host {
	if h.ProcRoot == "" {
		h.ProcRoot = "/proc"
	}
	if h.SysRoot == "" {
		h.SysRoot = "/sys"
	}
	if h.NoFile == nil {
		h.NoFile = func() (uint64, error) {
			var r unix.Rlimit
			err := unix.Getrlimit(unix.RLIMIT_NOFILE, &r)
			return r.Cur, err
		}
	}
	if h.FSType == nil {
		h.FSType = func(path string) (int64, error) {
			var st unix.Statfs_t
			err := unix.Statfs(path, &st)
			return int64(st.Type), err
		}
	}
	return h
}

// Status of one check.
type Status string

const (
	StatusOK      Status = "ok"
	StatusOff     Status = "off"      // advisory setting not as recommended
	StatusCrit    Status = "CRITICAL" // critical setting not as recommended
	StatusUnknown Status = "unknown"  // could not be read
)

// Result is one checked setting.
// Recommended is never below Current for a limit or size (Setting.Minimum).
type Result struct {
	Setting     string   `json:"setting"`
	Current     string   `json:"current"`
	Recommended string   `json:"recommended"`
	Status      Status   `json:"status"`
	Evidence    Evidence `json:"evidence"`
	Severity    Severity `json:"-"`
	Why         string   `json:"why"`
	Err         string   `json:"error,omitempty"`
}

// Check reads every setting of the table (the data-dir ones for dataDir,
// skipped when it is empty) and compares it with the recommendation.
func Check(h Host, dataDir string) []Result {
	h = h.fill()
	var m *mount
	var mountErr error
	if dataDir != "" {
		m, mountErr = findMount(h, dataDir)
	}
	var out []Result
	for _, s := range settings {
		if isDataDirKind(s.Kind) && dataDir == "" {
			continue
		}
		cur, err := h.read(s, dataDir, m, mountErr)
		r := judge(s, cur, err)
		if s.Kind == kindNoFile {
			r.Why = h.noFileSource() + ": " + r.Why
		}
		out = append(out, r)
	}
	return out
}

func isDataDirKind(k kind) bool {
	return k == kindFSType || k == kindMountOpts || k == kindScheduler || k == kindJournal
}

func judge(s Setting, cur string, err error) Result {
	r := Result{Setting: s.Name, Current: cur, Recommended: s.Recommended, Severity: s.Severity,
		Evidence: s.Evidence, Why: s.Why}
	if err == nil {
		r.Recommended = s.atLeastOf(cur)
	}
	switch {
	case err != nil:
		r.Status, r.Current, r.Err = StatusUnknown, "?", err.Error()
	case s.ok(cur):
		r.Status = StatusOK
	case s.Severity == Critical:
		r.Status = StatusCrit
	default:
		r.Status = StatusOff
	}
	return r
}

// Failed reports whether a critical setting is off (exit status 1).
func Failed(rs []Result) bool {
	for _, r := range rs {
		if r.Status == StatusCrit {
			return true
		}
	}
	return false
}

func (h Host) read(s Setting, dataDir string, m *mount, mountErr error) (string, error) {
	switch s.Kind {
	case kindSysctl:
		return readTrim(filepath.Join(h.ProcRoot, "sys", strings.ReplaceAll(s.Name, ".", "/")))
	case kindTHP:
		v, err := readTrim(filepath.Join(h.SysRoot, "kernel/mm", s.Name))
		return selected(v), err
	case kindNoFile:
		if h.Unit != "" {
			return UnitNoFile(h.Unit)
		}
		n, err := h.NoFile()
		if err != nil {
			return "", fmt.Errorf("tuning: getrlimit NOFILE: %w", err)
		}
		if n == unix.RLIM_INFINITY {
			return "unlimited", nil
		}
		return strconv.FormatUint(n, 10), nil
	case kindFSType:
		return h.fsType(dataDir)
	}
	if mountErr != nil {
		return "", mountErr
	}
	switch s.Kind {
	case kindMountOpts:
		return m.options, nil
	case kindJournal:
		return h.journal(m)
	}
	return h.scheduler(m)
}

// noFileSource says where LimitNOFILE was read.
func (h Host) noFileSource() string {
	if h.Unit != "" {
		return "from " + h.Unit
	}
	return "from this process (what a sluiced started here gets; no unit read)"
}

func readTrim(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("tuning: %w", err)
	}
	return strings.Join(strings.Fields(string(b)), " "), nil
}

// selected returns the bracketed choice of "always [madvise] never".
func selected(v string) string {
	if i := strings.IndexByte(v, '['); i >= 0 {
		if j := strings.IndexByte(v[i:], ']'); j > 0 {
			return v[i+1 : i+j]
		}
	}
	return v
}

// Filesystem magics (statfs f_type, linux/magic.h).
var fsNames = map[int64]string{
	0xEF53:     "ext4", // ext2/3/4 share it
	0x58465342: "xfs",
	0x01021994: "tmpfs",
	0x858458f6: "ramfs",
	0x794c7630: "overlay",
	0x9123683e: "btrfs",
	0x2fc12fc1: "zfs",
	0x6969:     "nfs",
	0xf2f52010: "f2fs",
}

func (h Host) fsType(dir string) (string, error) {
	t, err := h.FSType(dir)
	if err != nil {
		return "", fmt.Errorf("tuning: statfs %q: %w", dir, err)
	}
	if name, ok := fsNames[t]; ok {
		return name, nil
	}
	return fmt.Sprintf("0x%x", t), nil
}

// mount is the data dir's line of mountinfo.
type mount struct {
	majMin, point, options, fsType string
}

var errNoMount = errors.New("tuning: no mount contains the data directory")

// findMount picks the mountinfo entry with the longest mount point that
// contains dir (the last one wins among equals: it is mounted on top).
func findMount(h Host, dir string) (*mount, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("tuning: %w", err)
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real
	}
	f, err := os.Open(filepath.Join(h.ProcRoot, "self/mountinfo"))
	if err != nil {
		return nil, fmt.Errorf("tuning: %w", err)
	}
	defer f.Close()
	var best *mount
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m, ok := parseMountinfo(sc.Text())
		if ok && within(abs, m.point) && (best == nil || len(m.point) >= len(best.point)) {
			best = m
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("tuning: reading mountinfo: %w", err)
	}
	if best == nil {
		return nil, fmt.Errorf("%w: %q", errNoMount, abs)
	}
	return best, nil
}

// parseMountinfo reads "id parent maj:min root point options [tags] - type source superopts".
func parseMountinfo(line string) (*mount, bool) {
	f := strings.Fields(line)
	if len(f) < 10 {
		return nil, false
	}
	m := &mount{majMin: f[2], point: unescapeOctal(f[4]), options: f[5]}
	for i := 6; i < len(f)-1; i++ {
		if f[i] == "-" {
			m.fsType = f[i+1]
			return m, true
		}
	}
	return nil, false
}

// unescapeOctal undoes mountinfo's \040-style escapes.
func unescapeOctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func within(path, point string) bool {
	return point == "/" || path == point || strings.HasPrefix(path, point+"/")
}

// scheduler reads the mount's block device scheduler; a partition's queue
// is its parent disk's.
// journal says whether the data dir's ext4 has a journal: "present",
// "none", or "not ext4 (TYPE)" for another filesystem. ext4 names its
// sysfs directory after the block device (sda1, dm-0, vda) and shows
// "<none>" in journal_task when it runs without a journal.
func (h Host) journal(m *mount) (string, error) {
	if m.fsType != "ext4" && m.fsType != "ext3" && m.fsType != "ext2" {
		return "not ext4 (" + m.fsType + ")", nil
	}
	v, err := readTrim(filepath.Join(h.SysRoot, "fs/ext4", filepath.Base(h.blockDev(m)), "journal_task"))
	if err != nil {
		return "", err
	}
	if v == "<none>" {
		return "none", nil
	}
	return "present", nil
}

// blockDev is the sysfs directory of the mount's block device, its
// /sys/dev/block/MAJ:MIN link resolved (…/block/sda/sda1), or the link
// itself when it cannot be.
func (h Host) blockDev(m *mount) string {
	dev := filepath.Join(h.SysRoot, "dev/block", m.majMin)
	if real, err := filepath.EvalSymlinks(dev); err == nil {
		return real
	}
	return dev
}

func (h Host) scheduler(m *mount) (string, error) {
	if strings.HasPrefix(m.majMin, "0:") {
		return "", fmt.Errorf("tuning: %s on %s has no block device", m.fsType, m.point)
	}
	dev := h.blockDev(m) // …/block/sda/sda1: the queue is in the parent
	for _, d := range []string{dev, filepath.Dir(dev)} {
		if v, err := readTrim(filepath.Join(d, "queue/scheduler")); err == nil {
			return selected(v), nil
		}
	}
	return "", fmt.Errorf("tuning: no queue/scheduler for block device %s", m.majMin)
}
