package tuning

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeHost points a Host at a temp root holding proc/ and sys/ trees (the
// files map: path under the root → content) with injected rlimit and
// statfs; it returns the Host and a data dir inside the root.
func fakeHost(t *testing.T, nofile uint64, fsMagic int64, files map[string]string) (Host, string) {
	t.Helper()
	root := t.TempDir()
	for p, v := range files {
		writeFile(t, filepath.Join(root, p), v)
	}
	h := Host{
		ProcRoot: filepath.Join(root, "proc"),
		SysRoot:  filepath.Join(root, "sys"),
		NoFile:   func() (uint64, error) { return nofile, nil },
		FSType:   func(string) (int64, error) { return fsMagic, nil },
	}
	data := filepath.Join(root, "mnt", "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		t.Fatal(err)
	}
	return h, data
}

func writeFile(t *testing.T, path, v string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(v+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// hostFiles returns every file the checks read, with good values (the
// recommendations) or bad ones (kernel defaults, THP always, bfq,
// relatime), the data dir's mount on device 8:1.
func hostFiles(good bool, dataDir string) map[string]string {
	pick := func(g, b string) string {
		if good {
			return g
		}
		return b
	}
	f := map[string]string{
		"sys/kernel/mm/transparent_hugepage/enabled": pick("always [madvise] never", "[always] madvise never"),
		"sys/kernel/mm/transparent_hugepage/defrag":  pick("always defer defer+madvise [madvise] never", "[always] defer defer+madvise madvise never"),
		"sys/block/sda/queue/scheduler":              pick("[none] mq-deadline", "mq-deadline kyber [bfq] none"),
	}
	for _, s := range settings {
		if s.Kind != kindSysctl {
			continue
		}
		v := s.Recommended
		if !good {
			v = strings.SplitN(s.Default, " ", 2)[0]
			if strings.Contains(s.Name, "tcp_") {
				v = s.Default
			}
		}
		f["proc/sys/"+strings.ReplaceAll(s.Name, ".", "/")] = v
	}
	if !good {
		f["proc/sys/fs/file-max"] = "65536"
	}
	mnt := filepath.Dir(dataDir)
	f["proc/self/mountinfo"] = "22 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n" +
		"30 22 8:1 /data " + mnt + " " + pick("rw,noatime", "rw,relatime") + " shared:1 - xfs /dev/sda1 rw\n" +
		"31 22 0:5 / /proc rw - proc proc rw"
	return f
}

// linkPartition makes sys/dev/block/8:1 a symlink to a partition whose
// parent disk holds the queue, as sysfs does.
func linkPartition(t *testing.T, h Host) {
	t.Helper()
	part := filepath.Join(h.SysRoot, "block/sda/sda1")
	if err := os.MkdirAll(part, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(h.SysRoot, "dev/block"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(part, filepath.Join(h.SysRoot, "dev/block/8:1")); err != nil {
		t.Fatal(err)
	}
}

func byName(rs []Result) map[string]Result {
	m := map[string]Result{}
	for _, r := range rs {
		m[r.Setting] = r
	}
	return m
}

// fakeCheck builds a good or bad host and checks it.
func fakeCheck(t *testing.T, good bool, nofile uint64, magic int64) []Result {
	t.Helper()
	h, data := fakeHost(t, nofile, magic, nil)
	for p, v := range hostFiles(good, data) {
		writeFile(t, filepath.Join(filepath.Dir(h.ProcRoot), p), v)
	}
	linkPartition(t, h)
	rs := Check(h, data)
	if len(rs) != len(settings) {
		t.Fatalf("%d results for %d settings", len(rs), len(settings))
	}
	return rs
}

func TestCheckGoodHost(t *testing.T) {
	rs := fakeCheck(t, true, 1048576, 0x58465342)
	for _, r := range rs {
		if r.Status != StatusOK {
			t.Errorf("%s: %s (current %q, err %s)", r.Setting, r.Status, r.Current, r.Err)
		}
	}
	if Failed(rs) {
		t.Fatal("Failed on a good host")
	}
	m := byName(rs)
	f := func(name, want string) {
		t.Helper()
		if got := m[name].Current; got != want {
			t.Errorf("%s current = %q, want %q", name, got, want)
		}
	}
	f("data-dir filesystem", "xfs")
	f("data-dir mount options", "rw,noatime")
	f("data-dir I/O scheduler", "none")
	f("transparent_hugepage/enabled", "madvise")
	f("net.ipv4.tcp_rmem", "4096 131072 16777216")
	f("LimitNOFILE", "1048576")
}

func TestCheckBadHost(t *testing.T) {
	rs := fakeCheck(t, false, 1024, 0x01021994)
	// Kernel defaults that already suit Sluice.
	fine := map[string]bool{"net.core.somaxconn": true, "transparent_hugepage/defrag": false}
	for _, r := range rs {
		want := StatusOff
		switch {
		case fine[r.Setting]:
			want = StatusOK
		case r.Severity == Critical:
			want = StatusCrit
		}
		if r.Status != want {
			t.Errorf("%s = %q: %s, want %s (%s)", r.Setting, r.Current, r.Status, want, r.Err)
		}
	}
	if !Failed(rs) {
		t.Fatal("not Failed on a bad host")
	}
	m := byName(rs)
	if m["data-dir filesystem"].Current != "tmpfs" || m["data-dir I/O scheduler"].Current != "bfq" {
		t.Fatalf("fs %q scheduler %q", m["data-dir filesystem"].Current, m["data-dir I/O scheduler"].Current)
	}
}

func TestCheckOneCriticalOff(t *testing.T) {
	rs := fakeCheck(t, true, 4096, 0xEF53) // only the fd limit is low
	m := byName(rs)
	if m["LimitNOFILE"].Status != StatusCrit || !Failed(rs) || m["data-dir filesystem"].Current != "ext4" {
		t.Fatalf("nofile %s failed %v fs %s", m["LimitNOFILE"].Status, Failed(rs), m["data-dir filesystem"].Current)
	}
}

func TestCheckUnreadable(t *testing.T) {
	h, _ := fakeHost(t, 0, 0, map[string]string{"proc/sys/vm/swappiness": "1"})
	h.NoFile = func() (uint64, error) { return 0, errors.New("no") }
	rs := Check(h, "") // no data dir: its three checks are skipped
	m := byName(rs)
	if len(rs) != len(settings)-3 {
		t.Fatalf("%d results, want %d", len(rs), len(settings)-3)
	}
	if m["vm.swappiness"].Status != StatusOK || m["vm.dirty_bytes"].Status != StatusUnknown || m["LimitNOFILE"].Status != StatusUnknown {
		t.Fatalf("swappiness %s dirty_bytes %s nofile %s", m["vm.swappiness"].Status, m["vm.dirty_bytes"].Status, m["LimitNOFILE"].Status)
	}
	if Failed(rs) {
		t.Fatal("unreadable settings must not fail the check")
	}
}

func TestParseMountinfo(t *testing.T) {
	f := func(line, point, opts, fs string, ok bool) {
		t.Helper()
		m, got := parseMountinfo(line)
		if got != ok || ok && (m.point != point || m.options != opts || m.fsType != fs) {
			t.Fatalf("parseMountinfo(%q) = %+v, %v", line, m, got)
		}
	}
	f(`36 35 98:0 /mnt1 /mnt/my\040disk rw,noatime master:1 - ext3 /dev/root rw,errors=continue`, "/mnt/my disk", "rw,noatime", "ext3", true)
	f("22 1 254:0 / / rw,relatime - ext4 /dev/vda rw", "/", "rw,relatime", "ext4", true)
	f("short line", "", "", "", false)
}

func TestSelected(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		if got := selected(in); got != want {
			t.Fatalf("selected(%q) = %q, want %q", in, got, want)
		}
	}
	f("always [madvise] never", "madvise")
	f("[none] mq-deadline", "none")
	f("none", "none")
}

func TestWriteTableAndJSON(t *testing.T) {
	rs := []Result{{Setting: "vm.swappiness", Current: "60", Recommended: "1", Status: StatusOff, Why: "w"}}
	var b bytes.Buffer
	if err := WriteTable(&b, rs); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(b.String(), "SETTING") || !strings.Contains(b.String(), "vm.swappiness") {
		t.Fatalf("table:\n%s", b.String())
	}
	b.Reset()
	if err := WriteJSON(&b, rs); err != nil {
		t.Fatal(err)
	}
	var back []Result
	if err := json.Unmarshal(b.Bytes(), &back); err != nil || back[0].Current != "60" {
		t.Fatalf("json: %v %+v", err, back)
	}
}

// TestConfFileCurrent keeps 99-sluice.conf equal to Conf(); run with
// SLUICE_UPDATE_CONF=1 to rewrite it.
func TestConfFileCurrent(t *testing.T) {
	if os.Getenv("SLUICE_UPDATE_CONF") != "" {
		if err := os.WriteFile("99-sluice.conf", []byte(Conf()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile("99-sluice.conf")
	if err != nil || string(b) != Conf() {
		t.Fatalf("99-sluice.conf differs from Conf() (%v); rerun with SLUICE_UPDATE_CONF=1", err)
	}
}

// TestGuideCoversSettings: every setting of the table is named in GUIDE.md.
func TestGuideCoversSettings(t *testing.T) {
	b, err := os.ReadFile("GUIDE.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range settings {
		if !strings.Contains(string(b), "`"+s.Name+"`") {
			t.Errorf("GUIDE.md does not name `%s`", s.Name)
		}
	}
}
