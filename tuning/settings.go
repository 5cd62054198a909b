// Package tuning holds the host settings a Sluice server wants, the guide
// that explains them (GUIDE.md), the sysctl file built from them and the
// checks behind `sluice tune check`, which read the host and change
// nothing.
//
// One table, settings, is the source of all three: a test keeps the
// shipped 99-sluice.conf equal to Conf() and every setting named in
// GUIDE.md.
//
// Two rules keep the kit from making a host worse:
//
//   - Limits and buffer sizes are minimums. A host value above one passes
//     the check, and the file `sluice tune sysctl` writes (ConfFor) keeps
//     it: each number is max(current, recommended), field by field for the
//     tcp_rmem/tcp_wmem triples. The shipped 99-sluice.conf has no active
//     line, so copying it changes nothing.
//   - Each setting says what backs it (Evidence): a hard limit the broker
//     fails at, a measurement, or nothing yet. Only hard limits are active
//     lines of the generated file; the others are written commented out,
//     and the byte limits on dirty pages, measured to make the produce
//     p99 worse, are recommended at the kernel's default.
package tuning

import (
	"fmt"
	"strconv"
	"strings"
)

// Severity says what an off setting costs.
type Severity int

const (
	// Advisory settings cost throughput or latency when off.
	Advisory Severity = iota
	// Critical settings make the broker fail (EMFILE, ENOMEM on mmap, data
	// lost at reboot) when off; `sluice tune check` exits 1.
	Critical
)

func (s Severity) String() string {
	if s == Critical {
		return "critical"
	}
	return "advisory"
}

// Evidence is what backs a recommendation.
type Evidence string

const (
	// EvidenceLimit: a hard limit; below it the broker fails (EMFILE,
	// ENOMEM) or loses data, whatever the speed.
	EvidenceLimit Evidence = "hard limit"
	// EvidenceUntested: reasoned from the kernel's documentation, not
	// measured yet (GUIDE.md says how to).
	EvidenceUntested Evidence = "not measured"
	// EvidenceWorse: the alternative was measured and made things worse,
	// so the recommendation is the kernel's default.
	EvidenceWorse Evidence = "measured: alternative worse"
)

// Setting is one host setting: where to read it, what the kernel ships,
// what Sluice wants and why.
type Setting struct {
	Name        string   // sysctl name, or a descriptive name
	Kind        kind     // where the current value comes from
	Default     string   // the kernel's default
	Recommended string   // the value for a Sluice server (a minimum when Minimum)
	Minimum     bool     // a limit or size: a higher current value is kept and passes
	Sysctl      bool     // goes into the sysctl file
	Severity    Severity //
	Evidence    Evidence //
	Why         string   // one line
	ok          func(current string) bool
}

// kind is where a setting is read.
type kind int

const (
	kindSysctl    kind = iota // <proc>/sys/<name with . as />
	kindTHP                   // <sys>/kernel/mm/transparent_hugepage/<file>
	kindNoFile                // getrlimit(RLIMIT_NOFILE) soft limit
	kindFSType                // statfs of the data dir
	kindMountOpts             // the data dir's mount in <proc>/self/mountinfo
	kindScheduler             // <sys>/dev/block/MAJ:MIN/queue/scheduler
	kindJournal               // <sys>/fs/ext4/<device>/journal_task of the data dir's ext4
)

const (
	mib = 1 << 20
	gib = 1 << 30
)

// settings is the table GUIDE.md documents, in the guide's order.
var settings = []Setting{
	{Name: "vm.dirty_background_bytes", Default: "0 (vm.dirty_background_ratio=10 % of available memory)",
		Recommended: "0", Evidence: EvidenceWorse,
		Why: "keep the kernel's ratio: 256 MiB made the produce p99 worse (18.3 -> 23.5 ms, GUIDE.md)", ok: equals("0")},
	{Name: "vm.dirty_bytes", Default: "0 (vm.dirty_ratio=20 % of available memory)",
		Recommended: "0", Evidence: EvidenceWorse,
		Why: "keep the kernel's ratio: 2 GiB made p99 worse, 1 GiB worse still (31.1 ms, GUIDE.md)", ok: equals("0")},
	{Name: "vm.dirty_expire_centisecs", Default: "3000",
		Recommended: "1000", Sysctl: true, Evidence: EvidenceUntested,
		Why: "with fsync never, a machine crash loses at most 10 s of appends instead of 30 s", ok: between(100, 1500)},
	{Name: "vm.swappiness", Default: "60", Recommended: "1", Sysctl: true, Evidence: EvidenceUntested,
		Why: "keep the heap and index mmaps in memory; let page cache go first", ok: between(0, 10)},
	{Name: "vm.max_map_count", Default: "65530", Recommended: "262144", Minimum: true, Sysctl: true, Severity: Critical,
		Evidence: EvidenceLimit,
		Why:      "two mmaps per segment (.index, .timeindex): 65530 fails near 32k segments", ok: atLeast(262144)},
	{Name: "fs.file-max", Default: "about 10 % of RAM in KiB (e.g. 2.4 M on 24 GiB)", Recommended: "1048576",
		Minimum: true, Sysctl: true, Severity: Critical, Evidence: EvidenceLimit,
		Why: "one fd per partition (its active .log) plus two per connection, system-wide", ok: atLeast(1048576)},
	{Name: "LimitNOFILE", Kind: kindNoFile, Default: "1024 soft (systemd: 1024:524288)", Recommended: "1048576",
		Minimum: true, Severity: Critical, Evidence: EvidenceLimit,
		Why: "one fd per partition (its active .log; indexes are mapped, their files closed) plus sockets: EMFILE stops the broker", ok: atLeast(131072)},
	{Name: "net.core.somaxconn", Default: "4096", Recommended: "4096", Minimum: true, Sysctl: true, Evidence: EvidenceUntested,
		Why: "accept backlog for connection storms after a restart", ok: atLeast(4096)},
	{Name: "net.core.rmem_max", Default: "212992", Recommended: "16777216", Minimum: true, Sysctl: true, Evidence: EvidenceUntested,
		Why: "allow 16 MiB socket buffers where a client or broker sets SO_RCVBUF", ok: atLeast(16 * mib)},
	{Name: "net.core.wmem_max", Default: "212992", Recommended: "16777216", Minimum: true, Sysctl: true, Evidence: EvidenceUntested,
		Why: "allow 16 MiB socket buffers where SO_SNDBUF is set", ok: atLeast(16 * mib)},
	{Name: "net.ipv4.tcp_rmem", Default: "4096 131072 6291456", Recommended: "4096 131072 16777216", Minimum: true, Sysctl: true,
		Evidence: EvidenceUntested,
		Why:      "let receive autotuning reach 16 MiB: ~1 MiB produce batches over high-BDP links", ok: thirdAtLeast(16 * mib)},
	{Name: "net.ipv4.tcp_wmem", Default: "4096 16384 4194304", Recommended: "4096 65536 16777216", Minimum: true, Sysctl: true,
		Evidence: EvidenceUntested,
		Why:      "let send autotuning reach 16 MiB so one sendfile moves more per wakeup", ok: thirdAtLeast(16 * mib)},
	{Name: "net.ipv4.tcp_slow_start_after_idle", Default: "1", Recommended: "0", Sysctl: true, Evidence: EvidenceUntested,
		Why: "keep the congestion window across the gaps between fetches and produce bursts", ok: equals("0")},
	{Name: "transparent_hugepage/enabled", Kind: kindTHP, Default: "always (upstream; many distros: madvise)",
		Recommended: "madvise", Evidence: EvidenceUntested,
		Why: "khugepaged and compaction cause latency spikes; Go and the page cache gain nothing from always", ok: notSelected("always")},
	{Name: "transparent_hugepage/defrag", Kind: kindTHP, Default: "madvise",
		Recommended: "madvise", Evidence: EvidenceUntested,
		Why: "defrag=always stalls page faults in direct compaction", ok: notSelected("always")},
	{Name: "data-dir filesystem", Kind: kindFSType, Default: "-", Recommended: "xfs or ext4", Severity: Critical,
		Evidence: EvidenceLimit,
		Why:      "tmpfs loses the log at reboot; overlay and network filesystems are slow or lack fsync semantics",
		ok:       func(c string) bool { return c != "tmpfs" && c != "ramfs" }},
	{Name: "data-dir mount options", Kind: kindMountOpts, Default: "relatime", Recommended: "noatime", Evidence: EvidenceUntested,
		Why: "every sendfile read would otherwise be allowed to dirty the inode's atime", ok: hasOption("noatime")},
	{Name: "data-dir I/O scheduler", Kind: kindScheduler, Default: "mq-deadline (SCSI/virtio), none (NVMe)",
		Recommended: "none or mq-deadline", Evidence: EvidenceUntested,
		Why: "sequential appends and page-cache reads need no reordering; bfq costs CPU per request",
		ok:  func(c string) bool { return c == "none" || c == "mq-deadline" || c == "noop" || c == "deadline" }},
	{Name: "data-dir ext4 journal", Kind: kindJournal, Default: "present (mkfs.ext4)", Recommended: "present",
		Evidence: EvidenceWorse,
		Why:      "without: fsck after a crash, and new files skip inodes freed in the last minute (2-3x the CPU to create 1,000 partitions)",
		ok:       func(c string) bool { return c != "none" }},
}

// Settings returns a copy of the table.
func Settings() []Setting { return append([]Setting(nil), settings...) }

func parseInt(s string) (int64, bool) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	return n, err == nil
}

func between(lo, hi int64) func(string) bool {
	return func(c string) bool { n, ok := parseInt(c); return ok && n >= lo && n <= hi }
}

func atLeast(lo int64) func(string) bool {
	return func(c string) bool {
		if strings.TrimSpace(c) == "unlimited" {
			return true
		}
		n, ok := parseInt(c)
		return ok && n >= lo
	}
}

func equals(want string) func(string) bool {
	return func(c string) bool { return strings.TrimSpace(c) == want }
}

// thirdAtLeast checks the max of a "min default max" triple.
func thirdAtLeast(lo int64) func(string) bool {
	return func(c string) bool {
		f := strings.Fields(c)
		return len(f) == 3 && atLeast(lo)(f[2])
	}
}

// notSelected checks a sysfs choice list "always [madvise] never".
func notSelected(bad string) func(string) bool {
	return func(c string) bool { return c != bad }
}

func hasOption(opt string) func(string) bool {
	return func(c string) bool {
		for _, o := range strings.Split(c, ",") {
			if o == opt {
				return true
			}
		}
		return false
	}
}

// atLeastOf is the recommendation for a host whose current value is cur:
// for a Minimum setting the larger of the two, field by field ("4096
// 131072 33554432" against "4096 65536 16777216" is "4096 131072
// 33554432"); otherwise the recommendation. An unreadable or
// non-numeric current value leaves the recommendation.
func (s Setting) atLeastOf(cur string) string {
	if !s.Minimum {
		return s.Recommended
	}
	if strings.TrimSpace(cur) == "unlimited" {
		return "unlimited"
	}
	rec, now := strings.Fields(s.Recommended), strings.Fields(cur)
	if len(rec) != len(now) {
		return s.Recommended
	}
	out := make([]string, len(rec))
	for i := range rec {
		r, ok1 := parseInt(rec[i])
		c, ok2 := parseInt(now[i])
		if !ok1 || !ok2 {
			return s.Recommended
		}
		out[i] = strconv.FormatInt(max(r, c), 10)
	}
	return strings.Join(out, " ")
}

// Conf renders the shipped 99-sluice.conf: every sysctl as a commented
// minimum, so that copying it to /etc/sysctl.d changes nothing and cannot
// lower a value; `sluice tune sysctl` writes the file for one host.
func Conf() string {
	var b strings.Builder
	b.WriteString("# Sluice server sysctls: a reference, with no active line on purpose.\n")
	b.WriteString("# Copying this file would lower any value a host already has above\n")
	b.WriteString("# these minimums, so generate the file for the host instead; it keeps\n")
	b.WriteString("# every higher current value and enables only the hard limits:\n")
	b.WriteString("#   sluice tune sysctl > /etc/sysctl.d/99-sluice.conf && sysctl --system\n")
	b.WriteString("# tuning/GUIDE.md explains each setting and what was measured.\n")
	for _, s := range settings {
		if s.Sysctl {
			rel := "="
			if s.Minimum {
				rel = ">="
			}
			fmt.Fprintf(&b, "\n# %s (%s; kernel default %s)\n# %s %s %s\n", s.Why, s.Evidence, s.Default, s.Name, rel, s.Recommended)
		}
	}
	return b.String()
}

// ConfFor renders the sysctl file for host h: hard limits active, at
// max(current, recommended); settings nobody measured written commented
// out, also never below the host's value; a setting that cannot be read
// is written as a comment saying so.
func ConfFor(h Host) string {
	h = h.fill()
	var b strings.Builder
	b.WriteString("# Sluice server sysctls for this host, written by `sluice tune sysctl`.\n")
	b.WriteString("# No value is below the host's current one. Active lines are hard limits\n")
	b.WriteString("# the broker fails at; commented lines were not measured to help (see\n")
	b.WriteString("# tuning/GUIDE.md): enable one after measuring it on this host.\n")
	b.WriteString("# Install: sluice tune sysctl > /etc/sysctl.d/99-sluice.conf && sysctl --system\n")
	for _, s := range settings {
		if !s.Sysctl {
			continue
		}
		cur, err := h.read(s, "", nil, nil)
		if err != nil {
			fmt.Fprintf(&b, "\n# %s: cannot read the current value (%v)\n# %s = %s\n", s.Name, err, s.Name, s.Recommended)
			continue
		}
		val := s.atLeastOf(cur)
		note := fmt.Sprintf("current %s, kernel default %s", cur, s.Default)
		if s.Evidence == EvidenceLimit {
			fmt.Fprintf(&b, "\n# %s (%s)\n%s = %s\n", s.Why, note, s.Name, val)
		} else {
			fmt.Fprintf(&b, "\n# %s (%s; %s)\n# %s = %s\n", s.Why, s.Evidence, note, s.Name, val)
		}
	}
	return b.String()
}
