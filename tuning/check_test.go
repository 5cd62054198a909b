package tuning

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
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
		f["sys/fs/ext4/sda1/journal_task"] = "<none>" // ext4 without a journal
	}
	mnt := filepath.Dir(dataDir)
	f["proc/self/mountinfo"] = "22 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n" +
		"30 22 8:1 /data " + mnt + " " + pick("rw,noatime", "rw,relatime") + " shared:1 - " + pick("xfs", "ext4") + " /dev/sda1 rw\n" +
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
	f("data-dir ext4 journal", "not ext4 (xfs)")
	f("transparent_hugepage/enabled", "madvise")
	f("net.ipv4.tcp_rmem", "4096 131072 16777216")
	f("LimitNOFILE", "1048576")
}

func TestCheckBadHost(t *testing.T) {
	rs := fakeCheck(t, false, 1024, 0x01021994)
	// Kernel defaults that already suit Sluice.
	fine := map[string]bool{"net.core.somaxconn": true, "transparent_hugepage/defrag": false,
		"vm.dirty_background_bytes": true, "vm.dirty_bytes": true}
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
	if m["data-dir ext4 journal"].Current != "none" {
		t.Errorf("journal %q", m["data-dir ext4 journal"].Current)
	}
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
	rs := Check(h, "") // no data dir: its four checks are skipped
	m := byName(rs)
	if len(rs) != len(settings)-4 {
		t.Fatalf("%d results, want %d", len(rs), len(settings)-4)
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

// hostAbove returns a good host's files with every limit and size above
// the recommendation, as this VM has fs.file-max 2466193 and a 32 MiB
// tcp_rmem max.
func hostAbove(dataDir string) map[string]string {
	f := hostFiles(true, dataDir)
	f["proc/sys/fs/file-max"] = "2466193"
	f["proc/sys/vm/max_map_count"] = "1048576"
	f["proc/sys/net/core/somaxconn"] = "65535"
	f["proc/sys/net/core/rmem_max"] = "33554432"
	f["proc/sys/net/ipv4/tcp_rmem"] = "4096 131072 33554432"
	f["proc/sys/net/ipv4/tcp_wmem"] = "8192 16384 67108864"
	return f
}

// TestCheckNeverRecommendsLower: a value above a minimum passes and is
// what the check recommends.
func TestCheckNeverRecommendsLower(t *testing.T) {
	h, data := fakeHost(t, 4194304, 0xEF53, nil)
	for p, v := range hostAbove(data) {
		writeFile(t, filepath.Join(filepath.Dir(h.ProcRoot), p), v)
	}
	m := byName(Check(h, ""))
	f := func(name, wantRec string) {
		t.Helper()
		r := m[name]
		if r.Status != StatusOK || r.Recommended != wantRec {
			t.Errorf("%s: current %q recommended %q status %s; want recommended %q, ok", name, r.Current, r.Recommended, r.Status, wantRec)
		}
	}
	f("fs.file-max", "2466193")
	f("vm.max_map_count", "1048576")
	f("net.core.somaxconn", "65535")
	f("net.core.rmem_max", "33554432")
	f("net.core.wmem_max", "16777216") // equal to the recommendation
	f("net.ipv4.tcp_rmem", "4096 131072 33554432")
	f("net.ipv4.tcp_wmem", "8192 65536 67108864") // field by field
	f("LimitNOFILE", "4194304")
}

func TestAtLeastOf(t *testing.T) {
	byN := map[string]Setting{}
	for _, s := range settings {
		byN[s.Name] = s
	}
	f := func(name, cur, want string) {
		t.Helper()
		if got := byN[name].atLeastOf(cur); got != want {
			t.Fatalf("%s.atLeastOf(%q) = %q, want %q", name, cur, got, want)
		}
	}
	f("fs.file-max", "2466193", "2466193")
	f("fs.file-max", "65536", "1048576")
	f("fs.file-max", "garbage", "1048576")
	f("net.ipv4.tcp_rmem", "4096 131072 33554432", "4096 131072 33554432")
	f("net.ipv4.tcp_rmem", "4096 87380 6291456", "4096 131072 16777216")
	f("net.ipv4.tcp_wmem", "4096 16384", "4096 65536 16777216") // malformed: the recommendation
	f("LimitNOFILE", "unlimited", "unlimited")
	f("vm.swappiness", "60", "1") // not a minimum: the recommendation as it is
}

// TestConfForNeverLowers: in the generated file every value, active or
// commented, is at least the host's current one, and only hard limits
// are active.
func TestConfForNeverLowers(t *testing.T) {
	for _, good := range []bool{true, false} {
		h, data := fakeHost(t, 0, 0, nil)
		files := hostAbove(data)
		if !good {
			files = hostFiles(false, data)
		}
		for p, v := range files {
			writeFile(t, filepath.Join(filepath.Dir(h.ProcRoot), p), v)
		}
		conf := ConfFor(h)
		active := map[string]bool{}
		for _, line := range strings.Split(conf, "\n") {
			commented := strings.HasPrefix(line, "# ")
			name, val, ok := strings.Cut(strings.TrimPrefix(line, "# "), " = ")
			if !ok {
				continue
			}
			cur := strings.Fields(files["proc/sys/"+strings.ReplaceAll(name, ".", "/")])
			got := strings.Fields(val)
			if len(got) != len(cur) {
				t.Errorf("%s = %s, current %v", name, val, cur)
				continue
			}
			for i := range cur {
				c, _ := parseInt(cur[i])
				if n, _ := parseInt(got[i]); n < c && byNameSetting(name).Minimum {
					t.Errorf("%s = %s lowers the current %v", name, val, cur)
				}
			}
			if !commented {
				active[name] = true
			}
		}
		want := map[string]bool{"vm.max_map_count": true, "fs.file-max": true}
		if fmt.Sprint(active) != fmt.Sprint(want) {
			t.Errorf("active lines %v, want only the hard limits %v:\n%s", active, want, conf)
		}
		if good && !strings.Contains(conf, "\nfs.file-max = 2466193\n") {
			t.Errorf("fs.file-max not kept at 2466193:\n%s", conf)
		}
		if !good && !strings.Contains(conf, "\nfs.file-max = 1048576\n") {
			t.Errorf("fs.file-max not raised to 1048576:\n%s", conf)
		}
	}
}

func byNameSetting(name string) Setting {
	for _, s := range settings {
		if s.Name == name {
			return s
		}
	}
	return Setting{}
}

// TestShippedConfHasNoActiveLine: copying the shipped file changes nothing.
func TestShippedConfHasNoActiveLine(t *testing.T) {
	for _, line := range strings.Split(Conf(), "\n") {
		if line != "" && !strings.HasPrefix(line, "#") {
			t.Fatalf("active line in the shipped 99-sluice.conf: %q", line)
		}
	}
}

func TestUnitNoFile(t *testing.T) {
	f := func(unit string, dropins map[string]string, want, wantErr string) {
		t.Helper()
		dir := t.TempDir()
		path := filepath.Join(dir, "sluiced.service")
		writeFile(t, path, unit)
		for name, body := range dropins {
			writeFile(t, filepath.Join(path+".d", name), body)
		}
		got, err := UnitNoFile(path)
		if got != want || (wantErr == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("UnitNoFile(%q, %v) = %q, %v; want %q, %v", unit, dropins, got, err, want, wantErr)
		}
	}
	svc := "[Unit]\nDescription=x\nLimitNOFILE=7\n[Service]\nExecStart=/bin/true\n"
	f(svc+"LimitNOFILE=1048576\n", nil, "1048576", "")
	f(svc+"  LimitNOFILE = 65536 \n# LimitNOFILE=1\n; LimitNOFILE=2\n", nil, "65536", "")
	f(svc+"LimitNOFILE=1024:524288\n", nil, "524288", "") // Go raises soft to hard
	f(svc+"LimitNOFILE=infinity\n", nil, "unlimited", "")
	f(svc+"LimitNOFILE=1\nLimitNOFILE=2\n", nil, "2", "") // the last one wins
	f(svc, nil, "", ErrNoLimitInUnit.Error())             // [Unit]'s line does not count
	f(svc+"LimitNOFILE=lots\n", nil, "", "not a number")
	f(svc+"LimitNOFILE=4096\n", map[string]string{"10-a.conf": "[Service]\nLimitNOFILE=131072\n",
		"20-b.conf": "[Service]\nLimitNOFILE=262144\n", "x.txt": "[Service]\nLimitNOFILE=1\n"}, "262144", "")
	f(svc+"LimitNOFILE=4096\n", map[string]string{"10-a.conf": "[Service]\nLimitNOFILE=\n"}, "", ErrNoLimitInUnit.Error()) // reset
	if _, err := UnitNoFile(filepath.Join(t.TempDir(), "missing.service")); err == nil {
		t.Fatal("a missing unit read without error")
	}
}

// TestCheckReadsUnit: with Host.Unit, LimitNOFILE comes from the unit,
// not from the caller's limit.
func TestCheckReadsUnit(t *testing.T) {
	h, _ := fakeHost(t, 1024, 0, nil)
	h.Unit = filepath.Join(t.TempDir(), "sluiced.service")
	writeFile(t, h.Unit, "[Service]\nLimitNOFILE=1048576\n")
	r := byName(Check(h, ""))["LimitNOFILE"]
	if r.Current != "1048576" || r.Status != StatusOK || !strings.Contains(r.Why, h.Unit) {
		t.Fatalf("%+v", r)
	}
	writeFile(t, h.Unit, "[Service]\nLimitNOFILE=4096\n")
	if r := byName(Check(h, ""))["LimitNOFILE"]; r.Current != "4096" || r.Status != StatusCrit {
		t.Fatalf("%+v", r)
	}
	writeFile(t, h.Unit, "[Service]\nExecStart=/bin/true\n")
	if r := byName(Check(h, ""))["LimitNOFILE"]; r.Status != StatusUnknown || !strings.Contains(r.Err, "DefaultLimitNOFILE") {
		t.Fatalf("%+v", r)
	}
}

// TestCheckJournal: an ext4 data directory passes with a journal (its jbd2
// thread's pid in journal_task) and is off without one ("<none>"); a
// device that sysfs does not know is unknown, not a pass.
func TestCheckJournal(t *testing.T) {
	for _, c := range []struct {
		task   string // "": no journal_task file
		want   string
		status Status
	}{{"612", "present", StatusOK}, {"<none>", "none", StatusOff}, {"", "?", StatusUnknown}} {
		h, data := fakeHost(t, 1048576, 0xEF53, nil)
		files := map[string]string{"proc/self/mountinfo": "30 1 8:1 / " + filepath.Dir(data) + " rw,noatime - ext4 /dev/sda1 rw"}
		if c.task != "" {
			files["sys/fs/ext4/sda1/journal_task"] = c.task
		}
		for p, v := range files {
			writeFile(t, filepath.Join(filepath.Dir(h.ProcRoot), p), v)
		}
		linkPartition(t, h)
		r := byName(Check(h, data))["data-dir ext4 journal"]
		if r.Current != c.want || r.Status != c.status {
			t.Errorf("journal_task %q: current %q status %s (err %s), want %q %s", c.task, r.Current, r.Status, r.Err, c.want, c.status)
		}
	}
}
