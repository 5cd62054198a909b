// Package tuning holds the host settings a Sluice server wants, the guide
// that explains them (GUIDE.md), the sysctl file built from them
// (99-sluice.conf) and the checks behind `sluice tune check`, which read
// the host and change nothing.
//
// One table, settings, is the source of all three: a test keeps
// 99-sluice.conf equal to Conf() and every setting named in GUIDE.md.
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

// Setting is one host setting: where to read it, what the kernel ships,
// what Sluice wants and why.
type Setting struct {
	Name        string   // sysctl name, or a descriptive name
	Kind        kind     // where the current value comes from
	Default     string   // the kernel's default
	Recommended string   // the value for a Sluice server
	Sysctl      bool     // goes into 99-sluice.conf
	Severity    Severity //
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
)

const (
	mib = 1 << 20
	gib = 1 << 30
)

// settings is the table GUIDE.md documents, in the guide's order.
var settings = []Setting{
	{Name: "vm.dirty_background_bytes", Default: "0 (vm.dirty_background_ratio=10 % of available memory)",
		Recommended: "268435456", Sysctl: true,
		Why: "start writeback early and keep it steady instead of in bursts", ok: between(64*mib, 1*gib)},
	{Name: "vm.dirty_bytes", Default: "0 (vm.dirty_ratio=20 % of available memory)",
		Recommended: "2147483648", Sysctl: true,
		Why: "bound dirty pages so writers are throttled smoothly, not stalled for seconds", ok: between(512*mib, 8*gib)},
	{Name: "vm.dirty_expire_centisecs", Default: "3000",
		Recommended: "1000", Sysctl: true,
		Why: "write back appended data within 10 s; shrinks the loss window of a machine crash", ok: between(100, 1500)},
	{Name: "vm.swappiness", Default: "60", Recommended: "1", Sysctl: true,
		Why: "keep the heap and index mmaps in memory; let page cache go first", ok: between(0, 10)},
	{Name: "vm.max_map_count", Default: "65530", Recommended: "262144", Sysctl: true, Severity: Critical,
		Why: "two mmaps per segment (.index, .timeindex): 65530 fails near 32k segments", ok: atLeast(262144)},
	{Name: "fs.file-max", Default: "about 10 % of RAM in KiB (e.g. 2.4 M on 24 GiB)", Recommended: "1048576",
		Sysctl: true, Severity: Critical,
		Why: "three fds per segment plus two per connection, system-wide", ok: atLeast(1048576)},
	{Name: "LimitNOFILE", Kind: kindNoFile, Default: "1024 soft (systemd: 1024:524288)", Recommended: "1048576",
		Severity: Critical,
		Why:      "three fds per segment (.log, .index, .timeindex) plus sockets: EMFILE stops the broker", ok: atLeast(131072)},
	{Name: "net.core.somaxconn", Default: "4096", Recommended: "4096", Sysctl: true,
		Why: "accept backlog for connection storms after a restart", ok: atLeast(4096)},
	{Name: "net.core.rmem_max", Default: "212992", Recommended: "16777216", Sysctl: true,
		Why: "allow 16 MiB socket buffers where a client or broker sets SO_RCVBUF", ok: atLeast(16 * mib)},
	{Name: "net.core.wmem_max", Default: "212992", Recommended: "16777216", Sysctl: true,
		Why: "allow 16 MiB socket buffers where SO_SNDBUF is set", ok: atLeast(16 * mib)},
	{Name: "net.ipv4.tcp_rmem", Default: "4096 131072 6291456", Recommended: "4096 131072 16777216", Sysctl: true,
		Why: "let receive autotuning reach 16 MiB: ~1 MiB produce batches over high-BDP links", ok: thirdAtLeast(16 * mib)},
	{Name: "net.ipv4.tcp_wmem", Default: "4096 16384 4194304", Recommended: "4096 65536 16777216", Sysctl: true,
		Why: "let send autotuning reach 16 MiB so one sendfile moves more per wakeup", ok: thirdAtLeast(16 * mib)},
	{Name: "net.ipv4.tcp_slow_start_after_idle", Default: "1", Recommended: "0", Sysctl: true,
		Why: "keep the congestion window across the gaps between fetches and produce bursts", ok: equals("0")},
	{Name: "transparent_hugepage/enabled", Kind: kindTHP, Default: "always (upstream; many distros: madvise)",
		Recommended: "madvise",
		Why:         "khugepaged and compaction cause latency spikes; Go and the page cache gain nothing from always", ok: notSelected("always")},
	{Name: "transparent_hugepage/defrag", Kind: kindTHP, Default: "madvise",
		Recommended: "madvise",
		Why:         "defrag=always stalls page faults in direct compaction", ok: notSelected("always")},
	{Name: "data-dir filesystem", Kind: kindFSType, Default: "-", Recommended: "xfs or ext4", Severity: Critical,
		Why: "tmpfs loses the log at reboot; overlay and network filesystems are slow or lack fsync semantics",
		ok:  func(c string) bool { return c != "tmpfs" && c != "ramfs" }},
	{Name: "data-dir mount options", Kind: kindMountOpts, Default: "relatime", Recommended: "noatime",
		Why: "every sendfile read would otherwise be allowed to dirty the inode's atime", ok: hasOption("noatime")},
	{Name: "data-dir I/O scheduler", Kind: kindScheduler, Default: "mq-deadline (SCSI/virtio), none (NVMe)",
		Recommended: "none or mq-deadline",
		Why:         "sequential appends and page-cache reads need no reordering; bfq costs CPU per request",
		ok:          func(c string) bool { return c == "none" || c == "mq-deadline" || c == "noop" || c == "deadline" }},
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

// Conf renders 99-sluice.conf from the table.
func Conf() string {
	var b strings.Builder
	b.WriteString("# Sluice server settings (tuning/GUIDE.md explains each).\n")
	b.WriteString("# Install: cp 99-sluice.conf /etc/sysctl.d/ && sysctl --system\n")
	b.WriteString("# Also set LimitNOFILE=1048576 in the sluiced unit, mount the data\n")
	b.WriteString("# directory noatime, and transparent_hugepage=madvise.\n")
	for _, s := range settings {
		if s.Sysctl {
			fmt.Fprintf(&b, "\n# %s (kernel default %s)\n%s = %s\n", s.Why, s.Default, s.Name, s.Recommended)
		}
	}
	return b.String()
}
