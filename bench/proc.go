package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// userHZ is the unit of utime and stime in /proc/PID/stat (USER_HZ, 100
// on every Linux ABI Go supports).
const userHZ = 100

// Usage is a broker process's cost over a run.
type Usage struct {
	PID         int     `json:"pid"`
	CPUSec      float64 `json:"cpu_s"`
	CPUSecPerGB float64 `json:"cpu_s_per_gb"`
	RSSMB       float64 `json:"rss_mb"`
	HWMMB       float64 `json:"hwm_mb"` // peak RSS over the process's life
}

// procCPU returns utime+stime of pid in seconds, from procRoot/PID/stat.
func procCPU(procRoot string, pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("%s/%d/stat", procRoot, pid))
	if err != nil {
		return 0, fmt.Errorf("bench: cannot read broker CPU time: %w", err)
	}
	// The command name may hold spaces and parentheses: fields start
	// after the last ')'. utime and stime are fields 14 and 15.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("bench: %s/%d/stat: no ')'", procRoot, pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("bench: %s/%d/stat: %d fields", procRoot, pid, len(f))
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("bench: %s/%d/stat: bad utime/stime %q %q", procRoot, pid, f[11], f[12])
	}
	return float64(ut+st) / userHZ, nil
}

// procMem returns VmRSS and VmHWM of pid in MB.
func procMem(procRoot string, pid int) (rss, hwm float64, err error) {
	f, err := os.Open(fmt.Sprintf("%s/%d/status", procRoot, pid))
	if err != nil {
		return 0, 0, fmt.Errorf("bench: cannot read broker memory: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
		if k == "VmRSS" {
			rss = kb / 1024
		} else {
			hwm = kb / 1024
		}
	}
	return rss, hwm, sc.Err()
}

// UsageProbe measures a process between StartUsage and Finish (the
// load generators of bench/peers use it too).
type UsageProbe struct {
	pid      int
	cpuStart float64
}

// StartUsage reads pid's CPU time now; a zero pid gives a nil probe.
func StartUsage(pid int) (*UsageProbe, error) {
	if pid == 0 {
		return nil, nil
	}
	cpu, err := procCPU("/proc", pid)
	if err != nil {
		return nil, err
	}
	return &UsageProbe{pid: pid, cpuStart: cpu}, nil
}

// Finish returns the usage for bytes moved; a nil probe returns nil.
func (u *UsageProbe) Finish(bytes int64) (*Usage, error) {
	if u == nil {
		return nil, nil
	}
	cpu, err := procCPU("/proc", u.pid)
	if err != nil {
		return nil, err
	}
	rss, hwm, err := procMem("/proc", u.pid)
	if err != nil {
		return nil, err
	}
	out := &Usage{PID: u.pid, CPUSec: cpu - u.cpuStart, RSSMB: rss, HWMMB: hwm}
	if bytes > 0 {
		out.CPUSecPerGB = out.CPUSec / (float64(bytes) / (1 << 30))
	}
	return out, nil
}
