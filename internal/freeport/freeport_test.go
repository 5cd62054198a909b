package freeport

import (
	"bufio"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// TestPortsAreNeverHandedOutTwice: many ports in a row are all distinct,
// though the kernel reuses a closed listener's port readily.
func TestPortsAreNeverHandedOutTwice(t *testing.T) {
	seen := map[int]bool{}
	for range 300 {
		p, err := Port()
		if err != nil {
			t.Fatal(err)
		}
		if seen[p] {
			t.Fatalf("port %d handed out twice", p)
		}
		seen[p] = true
	}
}

// TestPortsOutsideTheEphemeralRange: the kernel never hands a port below
// its ephemeral range to a listen on port 0 or an outgoing connection, so
// nothing else takes a chosen port before its node listens.
func TestPortsOutsideTheEphemeralRange(t *testing.T) {
	elo, ehi := ephemeralRange()
	lo, hi := pickRange()
	if hi >= elo && lo <= ehi {
		t.Skipf("no room outside the ephemeral range %d-%d", elo, ehi)
	}
	for range 100 {
		p, err := Port()
		if err != nil {
			t.Fatal(err)
		}
		if p >= elo && p <= ehi {
			t.Fatalf("port %d is in the ephemeral range %d-%d", p, elo, ehi)
		}
	}
}

// TestPortsHeldByAnotherProcess: a child process takes 500 ports and
// keeps running; the 500 this process takes meanwhile are none of them.
// Drawn at random from ~12,000 ports without the lock, about 20 would be.
func TestPortsHeldByAnotherProcess(t *testing.T) {
	const n = 500
	if os.Getenv("FREEPORT_CHILD") == "1" {
		for range n {
			p, err := Port()
			if err != nil {
				t.Fatal(err)
			}
			os.Stdout.WriteString(strconv.Itoa(p) + "\n")
		}
		os.Stdout.WriteString("held\n")
		os.Stdin.Read(make([]byte, 1)) // hold the ports until the parent is done
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestPortsHeldByAnotherProcess$")
	cmd.Env = append(os.Environ(), "FREEPORT_CHILD=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		cmd.Wait()
	}()
	child := map[int]bool{}
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "held" {
			break
		}
		if p, err := strconv.Atoi(line); err == nil {
			child[p] = true
		}
	}
	if len(child) != n {
		t.Fatalf("the child reported %d ports, want %d", len(child), n)
	}
	for range n {
		p, err := Port()
		if err != nil {
			t.Fatal(err)
		}
		if child[p] {
			t.Fatalf("port %d handed out while another process holds it", p)
		}
	}
}
