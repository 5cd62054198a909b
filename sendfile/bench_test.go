package sendfile

import (
	"fmt"
	"io"
	"testing"
)

// BenchmarkSendfileRegion and BenchmarkCopyRegion move the same region over
// loopback to a reader that discards; compare their MB/s in one run.
func BenchmarkSendfileRegion(b *testing.B) {
	for _, size := range []int{1 << 20, 16 << 20} {
		b.Run(fmt.Sprintf("size=%dMiB", size>>20), func(b *testing.B) {
			f, _ := tempFile(b, size)
			server, client := tcpPair(b)
			go io.Copy(io.Discard, client)
			rc := rawConn(b, server)
			r := Region{File: f, Len: int64(size)}
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Send(rc, r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkCopyRegion(b *testing.B) {
	for _, size := range []int{1 << 20, 16 << 20} {
		b.Run(fmt.Sprintf("size=%dMiB", size>>20), func(b *testing.B) {
			f, _ := tempFile(b, size)
			server, client := tcpPair(b)
			go io.Copy(io.Discard, client)
			r := Region{File: f, Len: int64(size)}
			buf := make([]byte, 256<<10)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Copy(server, r, buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
