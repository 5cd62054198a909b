//go:build !framecheck

package netio

// frameCheck is off: see framecheck_on.go.
const frameCheck = false

func checkedFrame(n int) []byte { panic("BUG: netio: checkedFrame without framecheck") }
func releaseChecked(b []byte)   { panic("BUG: netio: releaseChecked without framecheck") }
func checkNotReleased(b []byte) {}
