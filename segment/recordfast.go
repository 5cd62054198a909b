package segment

// walkFast is the record walk's path for the records nearly every client
// writes: a length, key length and value length of one or two bytes each,
// and timestamp and offset deltas of one to three; their headers, if any,
// are checked by recordValid's own code (headerTailValid). From
// record i at data[pos:] it walks such records while they are whole in
// data and valid as recordValid judges them (offset delta in [0, n)), each
// with one bounds check for its head instead of one per byte and, without
// headers, no call, and returns where it stopped. It stops at anything else — a longer
// varint, a record not yet whole, a bound not met, an invalid record —
// and the caller walks that record the general way, so what is
// accepted and refused, and every error, is recordValid's (FuzzWalkFast
// compares the two).
//
// The varints are decoded in place from the window, each spelled out:
// the same loop over varint12/varintAt took about twice the time, and over
// small window helpers (raw12, raw123) about 1.5 times
// (BenchmarkRecordsValid, BenchmarkWalkHeaders; 2026-12-03).
//
//	data[pos:]: length | attributes | timestamp delta | offset delta | key length | key | value length | value | header count | headers
//	            1-2 B    1 B          1-3 B             1-3 B          1-2 B                1-2 B                  (0: 1 B)
func walkFast(data []byte, pos int, i, n int32) (int, int32) {
	for ; i < n; i++ {
		if pos+16 > len(data) {
			break
		}
		h := data[pos : pos+16 : pos+16]
		var l int
		k := 1 // the head's next byte
		if b := h[0]; b < 0x80 {
			l = int(b)
		} else if c := h[1]; c < 0x80 {
			l, k = int(b&0x7f)|int(c)<<7, 2
		} else {
			break
		}
		if l&1 != 0 { // a negative length
			break
		}
		end := pos + k + l>>1
		if end > len(data) {
			break
		}
		k++ // attributes: any byte
		// the timestamp delta: any value
		if h[k&15] < 0x80 {
			k++
		} else if h[(k+1)&15] < 0x80 {
			k += 2
		} else if h[(k+2)&15] < 0x80 {
			k += 3
		} else {
			break
		}
		// the offset delta, in [0, n): even (not negative) and v/2 < n
		var v int
		if b := h[k&15]; b < 0x80 {
			v, k = int(b), k+1
		} else if c := h[(k+1)&15]; c < 0x80 {
			v, k = int(b&0x7f)|int(c)<<7, k+2
		} else if d := h[(k+2)&15]; d < 0x80 {
			v, k = int(b&0x7f)|int(c&0x7f)<<7|int(d)<<14, k+3
		} else {
			break
		}
		if v&1 != 0 || v>>1 >= int(n) {
			break
		}
		// the key length: -1 (null, zig-zag 1) or a length
		if b := h[k&15]; b < 0x80 {
			v, k = int(b), k+1
		} else if c := h[(k+1)&15]; c < 0x80 {
			v, k = int(b&0x7f)|int(c)<<7, k+2
		} else {
			break
		}
		p := pos + k // the key, or the value length after a null key
		if v != 1 {
			if v&1 != 0 {
				break
			}
			p += v >> 1
		}
		// the value length, then the value, then a header count of 0 that
		// ends the record
		if p+2 > end {
			break
		}
		if d := data[p : p+2 : p+2]; d[0] < 0x80 {
			v, p = int(d[0]), p+1
		} else if c := d[1]; c < 0x80 {
			b := d[0]
			v, p = int(b&0x7f)|int(c)<<7, p+2
		} else {
			break
		}
		if v != 1 {
			if v&1 != 0 {
				break
			}
			p += v >> 1
		}
		if (p != end-1 || data[p] != 0) && !headerTailValid(data[:end], p) {
			break // not a header count of 0 at the end: headers, checked as recordValid does
		}
		pos = end
	}
	return pos, i
}
