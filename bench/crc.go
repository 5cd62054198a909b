package bench

import "hash/crc32"

// castagnoli is the CRC-32C table (SSE4.2 on amd64).
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// castagnoliPoly is CRC-32C's reflected polynomial.
const castagnoliPoly = 0x82F63B78

// crcRaw is the CRC-32C register update over p without the initial and
// final inversion: linear in (state, p).
func crcRaw(state uint32, p []byte) uint32 {
	return ^crc32.Update(^state, castagnoli, p)
}

// gf2Matrix is a 32x32 matrix over GF(2): column i is the image of bit i.
type gf2Matrix [32]uint32

func (m *gf2Matrix) times(v uint32) uint32 {
	var sum uint32
	for i := 0; v != 0; i, v = i+1, v>>1 {
		if v&1 != 0 {
			sum ^= m[i]
		}
	}
	return sum
}

func (m *gf2Matrix) square() gf2Matrix {
	var sq gf2Matrix
	for i := range m {
		sq[i] = m.times(m[i])
	}
	return sq
}

// zeroOp advances a raw CRC-32C register over n zero bytes in constant
// time: four byte tables built from the operator x^(8n) mod P (the
// technique of zlib's crc32_combine).
type zeroOp [4][256]uint32

func newZeroOp(n int) *zeroOp {
	op := identity()
	// one zero bit, then squared to one byte (8 bits) and powers beyond.
	var bit gf2Matrix
	bit[0] = castagnoliPoly
	for i := 1; i < 32; i++ {
		bit[i] = 1 << (i - 1)
	}
	pow := bit.square() // 2 bits
	pow = pow.square()  // 4 bits
	pow = pow.square()  // 8 bits: one byte
	for ; n > 0; n >>= 1 {
		if n&1 != 0 {
			op = mul(&pow, &op)
		}
		pow = pow.square()
	}
	z := new(zeroOp)
	for j := 0; j < 4; j++ {
		for v := 0; v < 256; v++ {
			z[j][v] = op.times(uint32(v) << (8 * j))
		}
	}
	return z
}

func identity() gf2Matrix {
	var m gf2Matrix
	for i := range m {
		m[i] = 1 << i
	}
	return m
}

// mul returns a·b (apply b, then a).
func mul(a, b *gf2Matrix) gf2Matrix {
	var out gf2Matrix
	for i := range b {
		out[i] = a.times(b[i])
	}
	return out
}

func (z *zeroOp) apply(v uint32) uint32 {
	return z[0][byte(v)] ^ z[1][byte(v>>8)] ^ z[2][byte(v>>16)] ^ z[3][v>>24]
}
