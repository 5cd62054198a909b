package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Zero-copy share of Fetch: how many of the record bytes a consumer
// fetched left the daemon by sendfile(2), measured with strace attached
// to the real daemon, plus the daemon's CPU per GB and the throughput,
// next to a plain sendfile of the same bytes over loopback.

const (
	zcRecordBytes = 16 << 10 // value size of each record
	zcBatchRecs   = 32       // records per produced batch (512 KiB of values)
	zcFetchBytes  = 8 << 20  // Fetch MaxBytes and PartitionMaxBytes
)

// fetchFigures is what one produce-then-consume run measured.
type fetchFigures struct {
	RecordBytes   int64         // record batch bytes the consumer received
	SendfileBytes int64         // returned by sendfile on TCP sockets (strace)
	WriteBytes    int64         // returned by write/writev/sendmsg on TCP sockets
	Elapsed       time.Duration // the consume
	CPU           time.Duration // daemon utime+stime during the consume
}

func (f fetchFigures) sendfileShare() float64 {
	return 100 * float64(f.SendfileBytes) / float64(f.RecordBytes)
}

// TestFetchSendfile produces 256 MiB of 16 KiB records and consumes them
// with raw Fetch requests while strace watches the daemon: at least 90%
// of the record bytes fetched must have left by sendfile. (The untraced
// throughput, CPU and loopback figures are BenchmarkFetchSendfile's.)
func TestFetchSendfile(t *testing.T) {
	if testing.Short() {
		t.Skip("256 MiB through strace; skipped with -short")
	}
	strace := requireTool(t, "strace", "strace")
	d := start(t, t.TempDir())
	const topic = "zero-copy"
	end := produceBulk(t, d.Addr, topic, 256<<20)
	f := consumeTraced(t, d, topic, end, strace)
	t.Logf("fetched %d record bytes in %v under strace (%.0f MB/s, daemon %.2f cpu-s/GB): sendfile %d (%.1f%%), write/writev/sendmsg %d",
		f.RecordBytes, f.Elapsed, float64(f.RecordBytes)/1e6/f.Elapsed.Seconds(), f.CPU.Seconds()/(float64(f.RecordBytes)/1e9),
		f.SendfileBytes, f.sendfileShare(), f.WriteBytes)
	if f.sendfileShare() < 90 {
		t.Errorf("only %.1f%% of the fetched record bytes left by sendfile (%d of %d; %d by write/writev/sendmsg), want at least 90%%",
			f.sendfileShare(), f.SendfileBytes, f.RecordBytes, f.WriteBytes)
	}
	d.Stop()
}

// BenchmarkFetchSendfile produces 256 MiB of 16 KiB records once, then per
// iteration consumes them all with raw Fetch requests. Besides MB/s it
// reports the daemon's CPU seconds per GB fetched (utime+stime from
// /proc), the loopback floor (a plain sendfile of the same segment bytes
// to a discarding loopback reader, as many times, in the same run), the
// broker's throughput as a share of that floor, and the sendfile share of
// the fetched bytes (a separate strace-attached pass after the timed
// ones, when strace is installed).
func BenchmarkFetchSendfile(b *testing.B) {
	const total = 256 << 20
	d := start(b, b.TempDir())
	const topic = "zero-copy"
	end := produceBulk(b, d.Addr, topic, total)
	b.SetBytes(total)
	var sum fetchFigures
	runs := 0
	for b.Loop() {
		f := consumeTraced(b, d, topic, end, "")
		sum.RecordBytes += f.RecordBytes
		sum.Elapsed += f.Elapsed
		sum.CPU += f.CPU
		runs++
	}
	b.StopTimer()
	var floorBytes int64
	var floorTime time.Duration
	for range runs {
		n, el := loopbackSendfile(b, filepath.Join(d.Dir, topic+"-0"))
		floorBytes += n
		floorTime += el
	}
	brokerMBs := float64(sum.RecordBytes) / 1e6 / sum.Elapsed.Seconds()
	floorMBs := float64(floorBytes) / 1e6 / floorTime.Seconds()
	b.ReportMetric(sum.CPU.Seconds()/(float64(sum.RecordBytes)/1e9), "cpu-s/GB")
	b.ReportMetric(floorMBs, "loopback-MB/s")
	b.ReportMetric(100*brokerMBs/floorMBs, "%-of-loopback")
	if strace, err := exec.LookPath("strace"); err == nil {
		b.ReportMetric(consumeTraced(b, d, topic, end, strace).sendfileShare(), "sendfile-%")
	}
	d.Stop()
}

// produceBulk appends about total bytes of 16 KiB records to topic's
// partition 0 with raw Produce requests (acks=1) of 512 KiB batches, and
// returns the log end offset.
func produceBulk(tb testing.TB, addr, topic string, total int) int64 {
	tb.Helper()
	rc := dialRaw(tb, addr)
	rc.metadataCreate(topic)
	value := bytes.Repeat([]byte("sluice-zero-copy"), zcRecordBytes/16)
	recs := make([]kv, zcBatchRecs)
	for i := range recs {
		recs[i] = kv{Key: fmt.Appendf(nil, "k%d", i), Value: value}
	}
	batch := encodeBatch(recs...)
	var end int64
	for sent := 0; sent < total; sent += zcBatchRecs * zcRecordBytes {
		resp := rc.roundTrip(produceReq(7, 1, topic, 0, batch)).(*kmsg.ProduceResponse)
		p := resp.Topics[0].Partitions[0]
		if p.ErrorCode != 0 || p.BaseOffset != end {
			tb.Fatalf("bulk produce at %d: error %d base offset %d", end, p.ErrorCode, p.BaseOffset)
		}
		end += zcBatchRecs
	}
	return end
}

// consumeTraced consumes offsets [0, end) of topic/0 with raw Fetch
// requests, measuring the daemon's CPU; with a strace path it also traces
// the daemon's socket writes during the consume.
func consumeTraced(tb testing.TB, d *daemon, topic string, end int64, strace string) fetchFigures {
	tb.Helper()
	var tr *tracer
	if strace != "" {
		tr = startStrace(tb, strace, d.Pid())
	}
	cpu0 := processCPU(tb, d.Pid())
	t0 := time.Now()
	var f fetchFigures
	f.RecordBytes = fetchAll(tb, d.Addr, topic, end)
	f.Elapsed = time.Since(t0)
	f.CPU = processCPU(tb, d.Pid()) - cpu0
	if tr != nil {
		f.SendfileBytes, f.WriteBytes = tr.stop(tb)
	}
	return f
}

// fetchAll reads [0, end) with Fetch v11 on one connection, checking each
// batch's CRC and offsets, and returns the record batch bytes received.
func fetchAll(tb testing.TB, addr, topic string, end int64) int64 {
	tb.Helper()
	rc := dialRaw(tb, addr)
	defer rc.conn.Close()
	buf := make([]byte, zcFetchBytes+1<<20)
	var got int64
	for off := int64(0); off < end; {
		req := fetchReq(topic, off)
		corr := rc.send(req)
		frame, err := rc.readFrame(buf)
		if err != nil {
			tb.Fatalf("fetch at %d: %v", off, err)
		}
		resp, err := decodeResponse(req, corr, frame)
		if err != nil {
			tb.Fatal(err)
		}
		p := resp.(*kmsg.FetchResponse).Topics[0].Partitions[0]
		if p.ErrorCode != 0 {
			tb.Fatalf("fetch at %d: error code %d", off, p.ErrorCode)
		}
		got += int64(len(p.RecordBatches))
		if off, err = walkBatches(p.RecordBatches, off); err != nil {
			tb.Fatal(err)
		}
	}
	return got
}

func fetchReq(topic string, offset int64) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.SetVersion(11)
	req.MaxWaitMillis, req.MinBytes, req.MaxBytes = 500, 1, zcFetchBytes
	req.SessionEpoch = -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.FetchOffset, rp.PartitionMaxBytes = offset, zcFetchBytes
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

// walkBatches checks the whole batches in p (a trailing partial one is
// allowed, as Kafka sends) and returns the offset after the last whole one.
func walkBatches(p []byte, offset int64) (int64, error) {
	first := true
	for len(p) > 0 {
		b, err := parseBatch(p)
		if err == errShortBatch {
			break
		}
		if err != nil {
			return 0, fmt.Errorf("fetched batch after offset %d: %v", offset, err)
		}
		if first && (offset < b.BaseOffset || offset > b.LastOffset()) || !first && b.BaseOffset != offset {
			return 0, fmt.Errorf("fetched batch %d-%d, want it to hold offset %d", b.BaseOffset, b.LastOffset(), offset)
		}
		first = false
		offset = b.LastOffset() + 1
		p = p[len(b.Raw):]
	}
	if first {
		return 0, fmt.Errorf("fetch at %d returned no whole batch", offset)
	}
	return offset, nil
}

// processCPU is utime+stime of pid from /proc/PID/stat (clock ticks of
// 1/100 s, Linux's USER_HZ).
func processCPU(tb testing.TB, pid int) time.Duration {
	tb.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		tb.Fatal(err)
	}
	// Fields after "(comm)": state is field 3, utime 14, stime 15.
	rest := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
	utime, err1 := strconv.ParseInt(rest[11], 10, 64)
	stime, err2 := strconv.ParseInt(rest[12], 10, 64)
	if err1 != nil || err2 != nil {
		tb.Fatalf("parse /proc/%d/stat: %q", pid, data)
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// processRSS is VmRSS of pid in bytes.
func processRSS(tb testing.TB, pid int) int64 {
	tb.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		tb.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if f := strings.Fields(l); len(f) == 3 && f[0] == "VmRSS:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err == nil {
				return kb << 10
			}
		}
	}
	tb.Fatalf("no VmRSS in /proc/%d/status", pid)
	return 0
}

// tracer is strace attached to the daemon.
type tracer struct {
	cmd    *exec.Cmd
	out    string
	stderr *tailBuffer
	done   chan error
}

// startStrace attaches strace to every thread of pid, tracing the
// syscalls that can put bytes on a socket, and waits until it is attached.
func startStrace(tb testing.TB, strace string, pid int) *tracer {
	tb.Helper()
	tr := &tracer{out: filepath.Join(tb.TempDir(), "strace.out"), stderr: &tailBuffer{max: 64 << 10}, done: make(chan error, 1)}
	tr.cmd = exec.Command(strace, "-f", "-yy", "-e", "trace=sendfile,write,writev,sendmsg",
		"-p", strconv.Itoa(pid), "-o", tr.out)
	tr.cmd.Stderr = tr.stderr
	if err := tr.cmd.Start(); err != nil {
		tb.Fatalf("start strace: %v", err)
	}
	go func() { tr.done <- tr.cmd.Wait() }()
	tb.Cleanup(func() { _ = tr.cmd.Process.Kill() })
	// strace -f -p prints "Process PID attached with N threads" once it
	// has attached to all of them (and follows new ones itself).
	var gone bool
	var exitErr error
	waitFor(tb, "strace attached", 30*time.Second, func() bool {
		select {
		case exitErr = <-tr.done:
			gone = true
			return true
		default:
			return strings.Contains(tr.stderr.String(), " attached")
		}
	})
	if gone {
		msg := fmt.Sprintf("strace could not attach to the daemon (exit: %v; it needs ptrace: root or CAP_SYS_PTRACE):\n%s", exitErr, tr.stderr.String())
		if os.Getenv("SLUICE_REQUIRE_KCAT") == "1" {
			tb.Fatal(msg)
		}
		tb.Skip(msg)
	}
	return tr
}

// stop detaches strace (SIGINT) and sums its log: bytes returned by
// sendfile and by write/writev/sendmsg on TCP sockets.
func (tr *tracer) stop(tb testing.TB) (sendfileBytes, writeBytes int64) {
	tb.Helper()
	_ = tr.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-tr.done:
	case <-time.After(30 * time.Second):
		tb.Fatalf("strace did not detach within 30s:\n%s", tr.stderr.String())
	}
	f, err := os.Open(tr.out)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	sums, err := sumStrace(f)
	if err != nil {
		tb.Fatal(err)
	}
	return sums["sendfile"], sums["write"] + sums["writev"] + sums["sendmsg"]
}

var (
	straceCall    = regexp.MustCompile(`^(?:\d+ +)?(sendfile|writev|write|sendmsg)\((\d+)<([^,]*)`)
	straceResumed = regexp.MustCompile(`^(?:(\d+) +)?<\.\.\. (\w+) resumed>`)
	straceReturn  = regexp.MustCompile(`\) += (-?\d+)(?: .*)?$`)
	stracePid     = regexp.MustCompile(`^(\d+) `)
)

// sumStrace adds up, per syscall, the non-negative return values of calls
// on TCP sockets in an `strace -f -yy` log, joining "<unfinished ...>"
// lines with their "<... resumed>" ends.
func sumStrace(r io.Reader) (map[string]int64, error) {
	sums := map[string]int64{}
	pending := map[string]bool{} // pid+syscall -> started on a TCP socket
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		pid := ""
		if m := stracePid.FindStringSubmatch(line); m != nil {
			pid = m[1]
		}
		var name string
		var tcp bool
		if m := straceResumed.FindStringSubmatch(line); m != nil {
			name = m[2]
			tcp = pending[pid+name]
			delete(pending, pid+name)
		} else if m := straceCall.FindStringSubmatch(line); m != nil {
			name = m[1]
			tcp = strings.HasPrefix(m[3], "TCP")
			if strings.HasSuffix(line, "<unfinished ...>") {
				pending[pid+name] = tcp
				continue
			}
		} else {
			continue
		}
		if m := straceReturn.FindStringSubmatch(line); m != nil && tcp {
			n, _ := strconv.ParseInt(m[1], 10, 64)
			if n > 0 {
				sums[name] += n
			}
		}
	}
	return sums, sc.Err()
}

// loopbackSendfile sends the .log files of dir with sendfile(2) (Go's
// TCPConn.ReadFrom of an *os.File) to a loopback reader that discards,
// and returns the bytes and the time taken: the floor any broker Fetch
// path is measured against.
func loopbackSendfile(tb testing.TB, dir string) (int64, time.Duration) {
	tb.Helper()
	logs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	ln, err := net.Listen("tcp", "127.77.0.5:0") // not 127.0.0.1: another test's client redialling a stopped broker's port could be the connection accepted
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	got := make(chan int64, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- -1
			return
		}
		defer c.Close()
		buf := make([]byte, 1<<20)
		var n int64
		for {
			m, err := c.Read(buf)
			n += int64(m)
			if err != nil {
				got <- n
				return
			}
		}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	t0 := time.Now()
	var sent int64
	for _, p := range logs {
		f, err := os.Open(p)
		if err != nil {
			tb.Fatal(err)
		}
		n, err := c.(*net.TCPConn).ReadFrom(f)
		f.Close()
		if err != nil {
			tb.Fatalf("sendfile %s: %v", p, err)
		}
		sent += n
	}
	c.Close()
	if n := <-got; n != sent {
		tb.Fatalf("loopback reader got %d bytes, sent %d", n, sent)
	}
	return sent, time.Since(t0)
}

// TestSumStrace checks the strace log parser on the shapes strace prints.
func TestSumStrace(t *testing.T) {
	log := strings.Join([]string{
		`101 sendfile(12<TCP:[127.0.0.1:9092->127.0.0.1:5555]>, 9</d/t-0/00000000000000000000.log>, [0] => [65536], 1048576) = 65536`,
		`101 sendfile(12<TCP:[127.0.0.1:9092->127.0.0.1:5555]>, 9</d/t-0/00000000000000000000.log>, [65536], 983040 <unfinished ...>`,
		`102 write(2<pipe:[77]>, "time=... level=INFO"..., 40) = 40`,
		`102 writev(12<TCP:[127.0.0.1:9092->127.0.0.1:5555]>, [{iov_base="\0\0\0\1", iov_len=4}], 1 <unfinished ...>`,
		`101 <... sendfile resumed> => [131072]) = 65536`,
		`102 <... writev resumed>) = 4`,
		`103 sendfile(12<TCP:[127.0.0.1:9092->127.0.0.1:5555]>, 9</x.log>, [131072], 917504) = -1 EAGAIN (Resource temporarily unavailable)`,
		`104 write(5<anon_inode:[eventfd]>, "\1\0\0\0\0\0\0\0", 8) = 8`,
		`104 sendmsg(13<TCPv6:[::1:9092->::1:5555]>, {msg_name=NULL}, 0) = 10`,
		`104 write(13<TCP:[127.0.0.1:9092->127.0.0.1:6666]>, "x) = 99", 7) = 7`,
		`105 +++ exited with 0 +++`,
	}, "\n")
	got, err := sumStrace(strings.NewReader(log))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"sendfile": 131072, "writev": 4, "sendmsg": 10, "write": 7}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %d bytes, want %d (all: %v)", k, got[k], v, got)
		}
	}
}
