package main

import "testing"

// sluice configs: the cluster-wide dynamic broker configs (replication
// throttles) set, described, refused when invalid or not dynamic, and
// deleted; a node's own level by --broker.
func TestConfigsCommand(t *testing.T) {
	addr := startBroker(t)
	steps := []struct {
		name string
		args []string
	}{
		{"configs-alter", []string{"configs", "alter", "--set", "follower.replication.throttled.rate=1048576", "--set", "leader.replication.throttled.rate=2097152"}},
		{"configs-describe", []string{"configs", "describe"}},
		{"configs-alter-node", []string{"configs", "alter", "--broker", "1", "--set", "leader.replication.throttled.rate=1000", "--output", "json"}},
		{"configs-describe-node", []string{"configs", "describe", "--broker", "1"}},
		{"configs-alter-bad", []string{"configs", "alter", "--set", "leader.replication.throttled.rate=-5"}},
		{"configs-alter-static", []string{"configs", "alter", "--set", "broker.rack=x"}},
		{"configs-delete", []string{"configs", "alter", "--delete", "follower.replication.throttled.rate", "--delete", "leader.replication.throttled.rate"}},
		{"configs-describe-empty", []string{"configs", "describe", "--output", "json"}},
		{"configs-usage", []string{"configs", "alter"}},
	}
	for _, s := range steps {
		golden(t, s.name, cli(t, addr, "", s.args...))
	}
}
