package partition

import "testing"

// InTransaction: true from a producer's first transactional batch until
// its marker, at that epoch only.
func TestInTransaction(t *testing.T) {
	l, _ := newTestLog(t, testConfig(), newClock())
	f := func(pid int64, epoch int16, want bool) {
		t.Helper()
		if got := l.InTransaction(pid, epoch); got != want {
			t.Fatalf("InTransaction(%d, %d) = %v, want %v", pid, epoch, got, want)
		}
	}
	f(7, 3, false)
	mustAppend(t, l, txnBatch(8, 0, 0, 1, false)) // idempotent only
	f(8, 0, false)
	mustAppend(t, l, txnBatch(7, 3, 0, 2, true))
	f(7, 3, true)
	f(7, 2, false)
	f(9, 3, false)
	if _, err := l.AppendMarker(7, 3, false, 0); err != nil {
		t.Fatal(err)
	}
	f(7, 3, false)
}
