package netio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

func TestSplitFrame(t *testing.T) {
	f := func(in []byte, max int32, wantBody []byte, wantN int, wantErr error) {
		t.Helper()
		body, n, err := splitFrame(in, max)
		if !bytes.Equal(body, wantBody) || n != wantN || !errors.Is(err, wantErr) {
			t.Fatalf("splitFrame(%x, %d) = %x, %d, %v; want %x, %d, %v", in, max, body, n, err, wantBody, wantN, wantErr)
		}
	}
	f(nil, 10, nil, 0, nil)
	f([]byte{0, 0, 0}, 10, nil, 0, nil)
	f([]byte{0, 0, 0, 0}, 10, []byte{}, 4, nil)
	f([]byte{0, 0, 0, 2, 'a'}, 10, nil, 0, nil)
	f([]byte{0, 0, 0, 2, 'a', 'b', 'c'}, 10, []byte("ab"), 6, nil)
	f([]byte{0, 0, 0, 10}, 10, nil, 0, nil)
	f([]byte{0, 0, 0, 11}, 10, nil, 0, errTooLarge)
	f([]byte{0x7f, 0xff, 0xff, 0xff}, 100<<20, nil, 0, errTooLarge)
	f([]byte{0xff, 0xff, 0xff, 0xff, 1}, 10, nil, 0, errNegativeSize)
	f([]byte{0x80, 0, 0, 0}, 10, nil, 0, errNegativeSize)
}

// splitAll splits buf into whole frames until one is incomplete or invalid.
func splitAll(buf []byte, max int32) (frames [][]byte, consumed int, err error) {
	for {
		body, n, err := splitFrame(buf[consumed:], max)
		if err != nil || n == 0 {
			return frames, consumed, err
		}
		frames = append(frames, body)
		consumed += n
	}
}

// FuzzSplitFrame checks that the frames split from any input, each with
// its size prefix, concatenate to exactly the consumed input; that what is
// left is an incomplete frame or an invalid prefix; and that bodies respect
// max.
func FuzzSplitFrame(f *testing.F) {
	f.Add([]byte{0, 0, 0, 2, 'a', 'b', 0, 0, 0, 0, 0, 0}, int32(10))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff}, int32(10))
	f.Add([]byte{0x7f, 0xff, 0xff, 0xff, 1, 2}, int32(1<<20))
	f.Add([]byte{0, 0, 0, 3, 1, 2}, int32(0))
	f.Fuzz(func(t *testing.T, in []byte, max int32) {
		if max < 0 {
			max = -(max + 1)
		}
		frames, consumed, err := splitAll(in, max)
		var re []byte
		for _, fr := range frames {
			if int64(len(fr)) > int64(max) {
				t.Fatalf("frame of %d bytes with max %d", len(fr), max)
			}
			re = binary.BigEndian.AppendUint32(re, uint32(len(fr)))
			re = append(re, fr...)
		}
		if !bytes.Equal(re, in[:consumed]) {
			t.Fatalf("re-encoded frames differ from the %d consumed bytes", consumed)
		}
		rest := in[consumed:]
		if err != nil {
			if len(rest) < sizeLen {
				t.Fatalf("error %v with only %d bytes left", err, len(rest))
			}
			size := int32(binary.BigEndian.Uint32(rest))
			if size >= 0 && size <= max {
				t.Fatalf("valid size %d rejected: %v", size, err)
			}
			return
		}
		if len(rest) >= sizeLen && len(rest) >= sizeLen+int(binary.BigEndian.Uint32(rest)) {
			t.Fatalf("a whole frame was left: %x", rest)
		}
	})
}
