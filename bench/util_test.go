package bench

import "testing"

func TestParseBytes(t *testing.T) {
	f := func(in string, want int64, ok bool) {
		t.Helper()
		got, err := ParseBytes(in)
		if (err == nil) != ok || got != want {
			t.Fatalf("ParseBytes(%q) = %d, %v; want %d, ok=%v", in, got, err, want, ok)
		}
	}
	f("", 0, true)
	f("1073741824", 1<<30, true)
	f("1G", 1<<30, true)
	f("512m", 512<<20, true)
	f("64K", 64<<10, true)
	f("-1", 0, false)
	f("x", 0, false)
	f("1.5G", 0, false)
}
