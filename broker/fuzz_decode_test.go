package broker

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"reflect"
	"runtime"
	"runtime/metrics"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
	"golang.org/x/sys/unix"
)

// Request decoding must cost O(frame length) whatever the counts inside
// claim: kmsg v1.15.0 looped once per claimed tagged-field count, so the
// 20-byte ListGroups v3 frame below (a tag count of 2^32-1) kept a core
// busy for two minutes. These tests decode every served key and version
// from mutated and random frames and bound the CPU time (of the decoding
// thread, so a loaded machine does not count) and the bytes allocated, by
// budgets far above the real cost (microseconds and a few KiB) yet far
// below what a count-driven loop costs.

// tagBombFrame is that frame without its size prefix.
const tagBombFrame = "0010000300000007ffff00ffffffff0f"

// decodeBudget is the CPU time a frame of n bytes may take to decode.
func decodeBudget(n int) time.Duration {
	return 250*time.Millisecond + time.Duration(n)*20*time.Microsecond
}

// allocBudget is the bytes a frame of n bytes may allocate when decoded:
// kmsg makes an array of n elements once n bytes are left, and an element
// struct is at most a few hundred bytes. The counter is process-wide, so
// the fixed part leaves room for other goroutines allocating meanwhile.
func allocBudget(n int) uint64 { return 8<<20 + uint64(n)*4096 }

// decodeFrame runs the broker's decoding of one frame (size prefix
// removed), as dispatch does before calling a handler.
func decodeFrame(frame []byte) (kmsg.Request, error) {
	h, body, err := parseHeader(frame)
	if err != nil {
		return nil, err
	}
	a, ok := apis[h.key]
	if !ok || h.version < a.min || h.version > a.max {
		return nil, fmt.Errorf("key %d version %d not served", h.key, h.version)
	}
	return decodeBody(h, body)
}

// threadCPU is the calling thread's CPU time (the caller locks its thread).
func threadCPU(t testing.TB) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_THREAD, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

var allocSample = []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}

func heapAllocs() uint64 {
	metrics.Read(allocSample)
	return allocSample[0].Value.Uint64()
}

// boundedDecode decodes frame and fails t if it took more CPU or memory
// than its budgets.
func boundedDecode(t testing.TB, frame []byte) (kmsg.Request, error) {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	a0, c0 := heapAllocs(), threadCPU(t)
	req, err := decodeFrame(frame)
	cpu, alloc := threadCPU(t)-c0, heapAllocs()-a0
	if cpu > decodeBudget(len(frame)) || alloc > allocBudget(len(frame)) {
		t.Fatalf("decoding %d bytes took %v CPU and %d bytes (budgets %v, %d): %x",
			len(frame), cpu, alloc, decodeBudget(len(frame)), allocBudget(len(frame)), frame[:min(len(frame), 64)])
	}
	return req, err
}

// fill sets every field of the struct v points to: one element in each
// array (filled in turn), "x" in strings, one byte in byte slices, so that
// an encoded request has a count or length at each position it can.
func fill(v reflect.Value, depth int) {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		fill(v.Elem(), depth)
	case reflect.Struct:
		for i := range v.NumField() {
			if f := v.Field(i); f.CanSet() && v.Type().Field(i).Name != "Version" {
				fill(f, depth)
			}
		}
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			v.SetBytes([]byte{1})
		} else if depth < 4 {
			e := reflect.New(v.Type().Elem()).Elem()
			fill(e, depth+1)
			v.Set(reflect.Append(v, e))
		}
	case reflect.String:
		v.SetString("x")
	case reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(1)
	}
}

// servedFrames is one frame (no size prefix) per served key and version,
// every field filled.
func servedFrames() [][]byte {
	fmtr := kmsg.NewRequestFormatter(kmsg.FormatterClientID("fuzz"))
	var out [][]byte
	for _, a := range registeredAPIs() {
		for v := a.min; v <= a.max; v++ {
			req := kmsg.RequestForKey(a.key)
			fill(reflect.ValueOf(req), 0)
			req.SetVersion(v)
			frame := fmtr.AppendRequest(nil, req, int32(v))
			out = append(out, frame[4:])
		}
	}
	return out
}

// hugeCounts are the encodings of the largest counts: int32 (arrays,
// strings, bytes), uvarint (compact arrays and strings, tag counts and
// sizes) and zigzag varint (record fields).
var hugeCounts = [][]byte{
	{0x7f, 0xff, 0xff, 0xff},
	{0xff, 0xff, 0xff, 0xff, 0x0f},
	{0xfe, 0xff, 0xff, 0xff, 0x0f},
}

// TestDecodeBoundedWork decodes, for every key and version the broker
// serves, the filled request truncated at every length and with a huge
// count written at every position of its body, plus random bodies; each
// decode stays within its budgets. The tag-count frame of the issue is
// among them.
func TestDecodeBoundedWork(t *testing.T) {
	bomb, err := hex.DecodeString(tagBombFrame)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := boundedDecode(t, bomb); err == nil {
		t.Fatal("the tag-count frame decoded")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	decodes := 0
	for _, frame := range servedFrames() {
		if _, err := boundedDecode(t, frame); err != nil {
			t.Fatalf("filled request does not decode: %v: %x", err, frame)
		}
		hdr := headerLen(frame)
		for n := range len(frame) {
			boundedDecode(t, frame[:n])
			decodes++
		}
		for pos := hdr; pos < len(frame); pos++ {
			for _, c := range hugeCounts {
				m := append([]byte(nil), frame...)
				m = append(m[:pos], c...)
				if rest := pos + len(c); rest < len(frame) {
					m = append(m, frame[rest:]...)
				}
				boundedDecode(t, m)
				decodes++
			}
		}
		for range 4 {
			m := append([]byte(nil), frame[:hdr]...)
			for range rng.IntN(256) {
				m = append(m, byte(rng.Uint32()))
			}
			boundedDecode(t, m)
			decodes++
		}
	}
	t.Logf("%d decodes within budget", decodes)
}

// headerLen is the length of a v1 request header (key, version,
// correlation id, client id).
func headerLen(frame []byte) int {
	return 10 + int(binary.BigEndian.Uint16(frame[8:]))
}

// FuzzDecodeRequest decodes arbitrary frames as the broker does. Beyond
// not panicking: decoding stays within its CPU and memory budgets, and a
// request that decodes re-encodes to bytes that decode to the same
// encoding (nothing is lost or invented between decode and encode).
func FuzzDecodeRequest(f *testing.F) {
	for _, frame := range servedFrames() {
		f.Add(frame)
	}
	bomb, err := hex.DecodeString(tagBombFrame)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(bomb)
	f.Fuzz(func(t *testing.T, frame []byte) {
		req, err := boundedDecode(t, frame)
		if err != nil {
			return
		}
		enc := req.AppendTo(nil)
		again := kmsg.RequestForKey(req.Key())
		again.SetVersion(req.GetVersion())
		if err := again.ReadFrom(enc); err != nil {
			t.Fatalf("re-encoded %s v%d does not decode: %v", kmsg.NameForKey(req.Key()), req.GetVersion(), err)
		}
		if enc2 := again.AppendTo(nil); !bytes.Equal(enc, enc2) {
			t.Fatalf("%s v%d: encode(decode(encode)) differs:\n%x\n%x", kmsg.NameForKey(req.Key()), req.GetVersion(), enc, enc2)
		}
	})
}
