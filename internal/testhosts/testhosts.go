// Package testhosts gives a test its own small network of hosts, each a
// Linux network namespace, so that a test can cut one host off and heal
// it (issue 14's "Test hosts"). It needs root and iproute2's ip; without
// them New skips the test with a message saying so.
//
//	root namespace (the test process)        bridge namespace <prefix>-br
//	 <veth> 10.A.B.254/24 ──────────────────── up0 ─┐
//	                                                br0 (bridge, no address)
//	host namespace <prefix>-h1: eth0 10.A.B.1 ── h1 ─┤
//	host namespace <prefix>-h2: eth0 10.A.B.2 ── h2 ─┤
//	host namespace <prefix>-h3: eth0 10.A.B.3 ── h3 ─┘
//
// Every host reaches every other and the test process reaches every host
// directly (same /24, no routing). Host.Cut sets the bridge side of the
// host's veth down: the host's eth0 loses its carrier, so neither side can
// send; Host.Heal sets it up again. A host's loopback is up, so a process
// in it may also listen on 127.0.0.1.
//
// Names: the prefix is "sluicet-<pid>-<n>" (pid of the test process, n a
// counter within it), the root-namespace veth "slt<pid>x<n>". The /24 is
// picked at random among 10.100-249.0-255 and skipped when an address of
// the root namespace is already in it, so parallel test runs do not
// collide. Cleanup (registered with t.Cleanup, so it runs on failure too)
// kills every process left in the namespaces and deletes them, which also
// removes the veths. At New, namespaces named by a test process that no
// longer runs (a killed run) are removed the same way.
package testhosts

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
)

// namePrefix starts every namespace this package makes.
const namePrefix = "sluicet-"

var seq atomic.Int32 // networks made by this process

// Net is one test's network.
type Net struct {
	t      testing.TB
	prefix string
	subnet string // "10.A.B."
	bridge string // the bridge's namespace
	hosts  []*Host
}

// Host is one namespace of a Net.
type Host struct {
	n     *Net
	NS    string // the namespace's name, for ip netns exec
	IP    string // its address, 10.A.B.i
	index int    // 1-based
}

// New makes an empty network for t (no hosts yet) and removes stale
// namespaces of killed runs. Without root or without ip it skips t.
func New(t testing.TB) *Net {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("testhosts: network namespaces need root (CI runs the suite as root); skipped")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("testhosts: the ip command (Debian package iproute2) is missing; skipped. Install it with: apt-get install iproute2")
	}
	removeStale(t)
	n := &Net{t: t}
	pid, k := os.Getpid(), seq.Add(1)
	n.prefix = fmt.Sprintf("%s%d-%d", namePrefix, pid, k)
	n.bridge = n.prefix + "-br"
	subnet, err := pickSubnet()
	if err != nil {
		t.Fatal(err)
	}
	n.subnet = subnet
	t.Cleanup(n.destroy)
	rootVeth := fmt.Sprintf("slt%dx%d", pid, k)
	n.run("netns", "add", n.bridge)
	n.run("-n", n.bridge, "link", "set", "lo", "up")
	n.run("-n", n.bridge, "link", "add", "br0", "type", "bridge")
	n.run("-n", n.bridge, "link", "set", "br0", "up")
	n.run("link", "add", rootVeth, "type", "veth", "peer", "name", "up0", "netns", n.bridge)
	n.run("-n", n.bridge, "link", "set", "up0", "master", "br0")
	n.run("-n", n.bridge, "link", "set", "up0", "up")
	n.run("addr", "add", subnet+"254/24", "dev", rootVeth)
	n.run("link", "set", rootVeth, "up")
	return n
}

// AddHost adds the next host (10.A.B.1, then .2, ...).
func (n *Net) AddHost() *Host {
	n.t.Helper()
	h := &Host{n: n, index: len(n.hosts) + 1}
	h.NS = fmt.Sprintf("%s-h%d", n.prefix, h.index)
	h.IP = n.subnet + strconv.Itoa(h.index)
	n.hosts = append(n.hosts, h)
	n.run("netns", "add", h.NS)
	n.run("-n", h.NS, "link", "set", "lo", "up")
	n.run("-n", n.bridge, "link", "add", h.port(), "type", "veth", "peer", "name", "eth0", "netns", h.NS)
	n.run("-n", n.bridge, "link", "set", h.port(), "master", "br0")
	n.run("-n", n.bridge, "link", "set", h.port(), "up")
	n.run("-n", h.NS, "addr", "add", h.IP+"/24", "dev", "eth0")
	n.run("-n", h.NS, "link", "set", "eth0", "up")
	return h
}

// Hosts are the hosts added so far.
func (n *Net) Hosts() []*Host { return n.hosts }

// port is the bridge side of the host's veth.
func (h *Host) port() string { return "h" + strconv.Itoa(h.index) }

// Cut takes the host off the network: the bridge side of its veth goes
// down. Connections are not reset; packets stop both ways.
func (h *Host) Cut() { h.n.t.Helper(); h.n.run("-n", h.n.bridge, "link", "set", h.port(), "down") }

// Heal puts a cut host back on the network.
func (h *Host) Heal() { h.n.t.Helper(); h.n.run("-n", h.n.bridge, "link", "set", h.port(), "up") }

// Command is name with args run inside the host's namespace (through
// ip netns exec, which execs it: the command's pid is name's own, so
// killing it kills name).
func (h *Host) Command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", h.NS, name}, args...)...)
}

// Addr is host:port on this host.
func (h *Host) Addr(port int) string { return net.JoinHostPort(h.IP, strconv.Itoa(port)) }

func (n *Net) run(args ...string) {
	n.t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		n.t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// destroy kills what runs in the namespaces and deletes them (the veths
// go with them).
func (n *Net) destroy() {
	for _, h := range n.hosts {
		if err := deleteNS(h.NS); err != nil {
			n.t.Errorf("testhosts cleanup: %v", err)
		}
	}
	if err := deleteNS(n.bridge); err != nil {
		n.t.Errorf("testhosts cleanup: %v", err)
	}
}

// deleteNS kills every process in ns with SIGKILL and deletes it.
func deleteNS(ns string) error {
	out, err := exec.Command("ip", "netns", "pids", ns).Output()
	if err != nil {
		return fmt.Errorf("ip netns pids %s: %w", ns, err)
	}
	for _, f := range strings.Fields(string(out)) {
		if pid, err := strconv.Atoi(f); err == nil && pid != os.Getpid() {
			_ = syscall.Kill(pid, syscall.SIGKILL) // gone already is fine
		}
	}
	if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
		return fmt.Errorf("ip netns del %s: %w: %s", ns, err, bytes.TrimSpace(out))
	}
	return nil
}

// removeStale deletes namespaces of test processes that no longer run.
func removeStale(t testing.TB) {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatalf("ip netns list: %v", err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || !strings.HasPrefix(f[0], namePrefix) {
			continue
		}
		pidStr, _, _ := strings.Cut(strings.TrimPrefix(f[0], namePrefix), "-")
		pid, err := strconv.Atoi(pidStr)
		if err != nil || pid == os.Getpid() || !errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
			continue // not ours to judge, ours, or its test still runs
		}
		if err := deleteNS(f[0]); err != nil {
			t.Logf("testhosts: cannot remove the stale namespace %s: %v", f[0], err)
		} else {
			t.Logf("testhosts: removed the stale namespace %s (test process %d is gone)", f[0], pid)
		}
	}
}

// pickSubnet picks a 10.A.B.0/24 with no address of the root namespace
// in it.
func pickSubnet() (string, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return "", fmt.Errorf("testhosts: cannot list addresses: %w", err)
	}
	for range 100 {
		subnet := fmt.Sprintf("10.%d.%d.", 100+rand.IntN(150), rand.IntN(256))
		_, cidr, _ := net.ParseCIDR(subnet + "0/24")
		used := false
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && (cidr.Contains(ipn.IP) || ipn.Contains(cidr.IP)) {
				used = true
			}
		}
		if !used {
			return subnet, nil
		}
	}
	return "", errors.New("testhosts: found no free 10.x.y.0/24")
}
