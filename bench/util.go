package bench

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// ParseBytes parses a byte count: 1073741824, 1G, 512M, 64K ("" is 0).
func ParseBytes(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	mult := int64(1)
	switch strings.ToUpper(s[len(s)-1:]) {
	case "K":
		mult = 1 << 10
	case "M":
		mult = 1 << 20
	case "G":
		mult = 1 << 30
	}
	if mult > 1 {
		s = s[:len(s)-1]
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("bad byte count %q", s)
	}
	return n * mult, nil
}

// IsTerminal reports whether f is a character device (a live terminal).
func IsTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// ProcCPU returns utime+stime of process pid in seconds (from /proc).
func ProcCPU(pid int) (float64, error) { return procCPU("/proc", pid) }

// ProcMem returns VmRSS and VmHWM (peak RSS) of process pid in MB.
func ProcMem(pid int) (rss, hwm float64, err error) { return procMem("/proc", pid) }
