package main

import (
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Timer slack (sluice.timer.slack.ms) is how late the kernel may end a
// thread's timed sleep so that it can serve several wake-ups at once. Go's
// runtime monitor (sysmon) sleeps 20 µs between its checks for as long as
// system calls keep it busy, and a broker's appends, socket reads and
// event-loop waits keep it busy: at the kernel's default slack of 50 µs it
// wakes thousands of times a second, each a thread switch. With a few
// milliseconds of slack it wakes a few hundred times a second.
//
// A thread's slack is inherited by the threads it starts and kept across
// execve(2), but a process may set only its own calling thread's (a
// privileged one may write /proc/TID/timerslack_ns), and sysmon's thread
// exists before main runs. So sluiced sets the slack on the thread that
// calls execve and executes itself again: the new image's first thread,
// and every thread its runtime then starts, has the slack. A service
// manager that already set it (systemd's TimerSlackNSec) costs no second
// execution.

// reexecEnv marks the process image executed with the slack set, so that
// a kernel that does not keep the slack across execve costs one warning,
// not a loop.
const reexecEnv = "SLUICED_TIMER_SLACK_EXECUTED"

// selfExec is whether run may change the whole process: execute the
// binary again to set the timer slack, set GOMAXPROCS (applyProcs). main
// sets it, so brokers run in-process by tests never do.
var selfExec bool

// inEnv reports whether environ sets key.
func inEnv(environ []string, key string) bool {
	return slices.ContainsFunc(environ, func(kv string) bool { return strings.HasPrefix(kv, key+"=") })
}

// currentTimerSlack is the calling thread's timer slack.
func currentTimerSlack() (time.Duration, error) {
	ns, err := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
	if err != nil {
		return 0, fmt.Errorf("prctl PR_GET_TIMERSLACK: %w", err)
	}
	return time.Duration(ns), nil
}

// applyTimerSlack gives every thread of the process the timer slack want
// (0: leave it) by executing the binary again with it set; it returns only
// if that is not needed or not possible, having logged why not.
func applyTimerSlack(want time.Duration, environ []string, log *slog.Logger) {
	if want <= 0 {
		return
	}
	have, err := currentTimerSlack()
	if err != nil {
		log.Warn("timer slack left as it is", "want", want, "err", err)
		return
	}
	if have == want {
		log.Debug("timer slack", "slack", have)
		return
	}
	if !selfExec {
		return
	}
	if inEnv(environ, reexecEnv) {
		log.Warn("timer slack not kept across execve; left as it is", "slack", have, "want", want)
		return
	}
	err = execWithSlack(want, append(slices.Clip(environ), reexecEnv+"=1"))
	log.Warn("timer slack left as it is: cannot execute sluiced again", "slack", have, "want", want, "err", err)
}

// execWithSlack sets the calling thread's slack and executes
// /proc/self/exe with the same arguments on that thread; it returns only
// on failure.
func execWithSlack(slack time.Duration, environ []string) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	old, err := currentTimerSlack()
	if err != nil {
		return err
	}
	if err := unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(slack.Nanoseconds()), 0, 0, 0); err != nil {
		return fmt.Errorf("prctl PR_SET_TIMERSLACK %v: %w", slack, err)
	}
	err = syscall.Exec("/proc/self/exe", os.Args, environ)
	_ = unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(old.Nanoseconds()), 0, 0, 0)
	return fmt.Errorf("execve /proc/self/exe: %w", err)
}
