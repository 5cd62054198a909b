package segment

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

// legacySet builds a message set of n messages "k<i>"/"v<i>" with magic;
// codec other than none wraps them in one compressed wrapper (inner
// offsets relative for magic 1, absolute for magic 0, as clients send).
func legacySet(t testing.TB, magic int8, codec int, base int64, n int) []byte {
	t.Helper()
	var inner []byte
	for i := range n {
		off := base + int64(i)
		if codec != CodecNone && magic == 1 {
			off = int64(i)
		}
		m := LegacyMessage{Offset: off, Magic: magic, Timestamp: 1000 + int64(i),
			Key: fmt.Appendf(nil, "k%d", i), Value: fmt.Appendf(nil, "v%d", i)}
		if i == 1 {
			m.Key, m.KeyNull = nil, true
		}
		var err error
		if inner, err = AppendLegacyMessage(inner, m, CodecNone, nil); err != nil {
			t.Fatal(err)
		}
	}
	if codec == CodecNone {
		return inner
	}
	w := LegacyMessage{Offset: base + int64(n) - 1, Magic: magic, Timestamp: 2000}
	out, err := AppendLegacyMessage(nil, w, codec, inner)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestUpDownConvert(t *testing.T) {
	for _, magic := range []int8{0, 1} {
		for codec := CodecNone; codec <= CodecZstd; codec++ {
			t.Run(fmt.Sprintf("magic%d/%s", magic, CodecName(codec)), func(t *testing.T) {
				set := legacySet(t, magic, codec, 0, 3)
				batch, n, err := UpConvert(set)
				if err != nil || n != 3 {
					t.Fatalf("UpConvert: %d, %v", n, err)
				}
				h, err := Validate(batch)
				if err != nil || h.Compression() != codec || h.NumRecords != 3 || h.ProducerID != -1 {
					t.Fatalf("batch %+v, %v", h, err)
				}
				var got []Record
				if err := Records(batch, func(r Record) bool {
					r.Key, r.Value = bytes.Clone(r.Key), bytes.Clone(r.Value)
					got = append(got, r)
					return true
				}); err != nil {
					t.Fatal(err)
				}
				for i, r := range got {
					wantTS := int64(-1)
					if magic == 1 {
						wantTS = 1000 + int64(i)
					}
					if r.Offset != int64(i) || r.Timestamp != wantTS || string(r.Value) != fmt.Sprintf("v%d", i) || r.KeyNull != (i == 1) {
						t.Fatalf("record %d: %+v", i, r)
					}
				}
				// Down-convert a copy placed at offset 40 back to both magics.
				putBase(batch, 40)
				for _, to := range []int8{0, 1} {
					down, dn, err := DownConvert(nil, append(batch, batch[:HeaderSize]...), to) // partial tail ignored
					if err != nil || dn != 3 {
						t.Fatalf("DownConvert to %d: %d, %v", to, dn, err)
					}
					var msgs []LegacyMessage
					gotCodec, err := WalkLegacy(down, func(m LegacyMessage) { msgs = append(msgs, m) })
					if err != nil {
						t.Fatal(err)
					}
					wantCodec := codec
					if codec == CodecZstd || (codec == CodecLZ4 && to == 0) {
						wantCodec = CodecNone
					}
					if gotCodec != wantCodec {
						t.Fatalf("down-converted to magic %d with codec %s, want %s", to, CodecName(gotCodec), CodecName(wantCodec))
					}
					for i, m := range msgs {
						if m.Offset != 40+int64(i) || m.Magic != to || string(m.Value) != fmt.Sprintf("v%d", i) || m.KeyNull != (i == 1) {
							t.Fatalf("message %d: %+v", i, m)
						}
						if to == 1 && m.Timestamp != got[i].Timestamp {
							t.Fatalf("message %d timestamp %d, want %d", i, m.Timestamp, got[i].Timestamp)
						}
					}
				}
			})
		}
	}
}

func putBase(batch []byte, base int64) {
	for i := range 8 {
		batch[i] = byte(base >> (56 - 8*i))
	}
}

func TestLegacyRelativeOffsets(t *testing.T) {
	// A magic 1 wrapper at offset 9 holding 3 messages: 7, 8, 9.
	var offs []int64
	if _, err := WalkLegacy(legacySet(t, 1, CodecGzip, 7, 3), func(m LegacyMessage) { offs = append(offs, m.Offset) }); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(offs) != "[7 8 9]" {
		t.Fatalf("offsets %v", offs)
	}
}

func TestLegacyMalformed(t *testing.T) {
	good := legacySet(t, 1, CodecNone, 0, 2)
	f := func(name string, b []byte, want error) {
		t.Helper()
		_, _, err := UpConvert(b)
		if !errors.Is(err, want) || !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %v, want %v", name, err, want)
		}
	}
	f("empty", nil, ErrLegacy)
	f("truncated", good[:len(good)-1], ErrLegacy)
	bad := bytes.Clone(good)
	bad[len(bad)-1] ^= 1
	f("crc", bad, ErrBadCRC)
	magic2 := bytes.Clone(good)
	magic2[16] = 2
	f("magic 2", magic2, ErrBadCRC) // the CRC covers the magic
}

func FuzzUpConvert(f *testing.F) {
	for _, magic := range []int8{0, 1} {
		for codec := CodecNone; codec <= CodecZstd; codec++ {
			f.Add(legacySet(f, magic, codec, 0, 3))
		}
	}
	f.Fuzz(func(t *testing.T, set []byte) {
		var msgs []LegacyMessage
		_, werr := WalkLegacy(set, func(m LegacyMessage) { msgs = append(msgs, m) })
		batch, n, err := UpConvert(set)
		if (err == nil) != (werr == nil) {
			t.Fatalf("UpConvert %v but WalkLegacy %v", err, werr)
		}
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrEncode) {
				t.Fatalf("error not ErrCorrupt: %v", err)
			}
			return
		}
		if n != len(msgs) {
			t.Fatalf("%d records, walked %d", n, len(msgs))
		}
		if _, err := Validate(batch); err != nil {
			t.Fatalf("up-converted batch invalid: %v", err)
		}
		i := 0
		if err := Records(batch, func(r Record) bool {
			m := msgs[i]
			if !bytes.Equal(r.Key, m.Key) || r.KeyNull != m.KeyNull || !bytes.Equal(r.Value, m.Value) || r.ValueNull != m.ValueNull {
				t.Fatalf("record %d differs from message %+v", i, m)
			}
			i++
			return true
		}); err != nil {
			t.Fatal(err)
		}
		down, dn, err := DownConvert(nil, batch, 1)
		if err != nil || dn != n {
			t.Fatalf("DownConvert: %d of %d, %v", dn, n, err)
		}
		if _, err := WalkLegacy(down, func(LegacyMessage) {}); err != nil {
			t.Fatalf("down-converted set does not parse: %v", err)
		}
	})
}

// BenchmarkConvert measures up-conversion of a 1,000-message set and
// down-conversion of the resulting batch, plain and gzip.
func BenchmarkConvert(b *testing.B) {
	for _, codec := range []int{CodecNone, CodecGzip} {
		set := legacySet(b, 1, codec, 0, 1000)
		batch, _, err := UpConvert(set)
		if err != nil {
			b.Fatal(err)
		}
		b.Run("up/"+CodecName(codec), func(b *testing.B) {
			b.SetBytes(int64(len(set)))
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := UpConvert(set); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("down/"+CodecName(codec), func(b *testing.B) {
			b.SetBytes(int64(len(batch)))
			b.ReportAllocs()
			var dst []byte
			for b.Loop() {
				if dst, _, err = DownConvert(dst[:0], batch, 1); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
