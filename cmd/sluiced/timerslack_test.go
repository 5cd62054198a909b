package main

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// threadSlacks reads the timer slack of each of pid's threads. Reading
// another process's needs CAP_SYS_NICE: without it, ok is false.
func threadSlacks(t *testing.T, pid int) (slacks []time.Duration, ok bool) {
	t.Helper()
	tids, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
	if err != nil {
		t.Fatal(err)
	}
	for _, tid := range tids {
		b, err := os.ReadFile(filepath.Join("/proc", tid.Name(), "timerslack_ns"))
		if errors.Is(err, os.ErrPermission) {
			return nil, false
		}
		if errors.Is(err, os.ErrNotExist) {
			continue // the thread has exited since ReadDir
		}
		if err != nil {
			t.Fatal(err)
		}
		ns, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		slacks = append(slacks, time.Duration(ns))
	}
	return slacks, true
}

// reexecuted reports whether pid's environment carries the mark of a
// second execution.
func reexecuted(t *testing.T, pid int) bool {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	if err != nil {
		t.Fatal(err)
	}
	for kv := range strings.SplitSeq(string(b), "\x00") {
		if strings.HasPrefix(kv, reexecEnv+"=") {
			return true
		}
	}
	return false
}

// checkSlack wants every thread of p (or, unprivileged, its logged
// slack) at want, and p executed again or not as again says.
func checkSlack(t *testing.T, p *proc, want time.Duration, again bool) {
	t.Helper()
	pid := p.cmd.Process.Pid
	if got := reexecuted(t, pid); got != again {
		t.Errorf("executed again: %v, want %v", got, again)
	}
	if rec := p.waitLog("timer slack"); rec["slack"] != float64(want) {
		t.Errorf("logged slack %v, want %d", rec["slack"], want)
	}
	slacks, ok := threadSlacks(t, pid)
	if !ok {
		t.Log("no CAP_SYS_NICE: the threads' slack is not readable; checked the logged slack only")
		return
	}
	if len(slacks) < 3 {
		t.Fatalf("%d threads, want the runtime's several", len(slacks))
	}
	for i, s := range slacks {
		if s != want {
			t.Errorf("thread %d of %d: slack %v, want %v", i, len(slacks), s, want)
		}
	}
}

func TestTimerSlackEveryThread(t *testing.T) {
	p := start(t, nil, "--data-dir", t.TempDir(), "--listen", "127.0.0.1:0", "--log-level", "debug", "--timer-slack", "7ms")
	checkSlack(t, p, 7*time.Millisecond, true)
	p.stop()
}

func TestTimerSlackDefaultIsFourMillis(t *testing.T) {
	p := start(t, nil, "--data-dir", t.TempDir(), "--listen", "127.0.0.1:0", "--log-level", "debug")
	checkSlack(t, p, 4*time.Millisecond, true)
	p.stop()
}

// A slack the service manager already set (systemd's TimerSlackNSec) is
// inherited as it is and costs no second execution.
func TestTimerSlackSetByParent(t *testing.T) {
	runtime.LockOSThread() // the child is forked from this thread
	defer runtime.UnlockOSThread()
	old, err := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(3*time.Millisecond), 0, 0, 0); err != nil {
		t.Fatal(err)
	}
	defer unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(old), 0, 0, 0)
	p := start(t, nil, "--data-dir", t.TempDir(), "--listen", "127.0.0.1:0", "--log-level", "debug", "--timer-slack", "3ms")
	checkSlack(t, p, 3*time.Millisecond, false)
	p.stop()
}

// --timer-slack 0, and fsync=always without a slack set, leave the
// inherited slack alone.
func TestTimerSlackZeroLeavesIt(t *testing.T) {
	for _, args := range [][]string{{"--timer-slack", "0"}, {"--fsync", "always"}} {
		p := start(t, nil, append([]string{"--data-dir", t.TempDir(), "--listen", "127.0.0.1:0"}, args...)...)
		if reexecuted(t, p.cmd.Process.Pid) {
			t.Errorf("%q: executed again", args)
		}
		if slacks, ok := threadSlacks(t, p.cmd.Process.Pid); ok {
			for _, s := range slacks {
				if s >= time.Millisecond {
					t.Errorf("%q: a thread's slack is %v, want the kernel's default (µs)", args, s)
				}
			}
		}
		p.stop()
	}
}
