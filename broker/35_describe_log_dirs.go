package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
	"golang.org/x/sys/unix"

	"github.com/sluice/sluice/netio"
	"github.com/sluice/sluice/partition"
)

// DescribeLogDirs: v0-4
//
// Behavior:
// * With an authorizer: DESCRIBE on the cluster, else no directories and
//   (v3+) CLUSTER_AUTHORIZATION_FAILED.
// * One dir: the store's data directory as an absolute path, error 0.
// * Topics null: every partition; otherwise the partitions listed (unknown
//   topics and partitions are left out, as are topics left with none).
// * Each partition: Size is the bytes of its segments (partition.Log.Size),
//   OffsetLag 0 and IsFuture false (no replica moves between dirs).
// * v4: TotalBytes and UsableBytes of the dir's file system (statfs;
//   usable = available to unprivileged users); -1 if statfs fails.
// * v3+: top-level ErrorCode 0.

func init() { register(35, 0, 4, handleDescribeLogDirs) }

func handleDescribeLogDirs(_ context.Context, b *Broker, r *request) (*netio.Response, error) {
	req := r.kreq.(*kmsg.DescribeLogDirsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeLogDirsResponse)
	if resp.ErrorCode = b.denied(r, &chkLogDirs, ""); resp.ErrorCode != 0 {
		return r.respond(resp), nil
	}
	dir := kmsg.NewDescribeLogDirsResponseDir()
	dir.Dir = absDir(b.store.Dir())
	dir.TotalBytes, dir.UsableBytes = b.diskSpace(dir.Dir)
	if req.Topics == nil {
		for _, t := range b.topics.all() {
			appendLogDirTopic(&dir, t.name, t.partitions)
		}
	} else {
		for _, rt := range req.Topics {
			appendLogDirTopic(&dir, rt.Topic, b.requestedLogs(rt))
		}
	}
	resp.Dirs = []kmsg.DescribeLogDirsResponseDir{dir}
	return r.respond(resp), nil
}

// requestedLogs returns the existing partitions among those listed.
func (b *Broker) requestedLogs(rt kmsg.DescribeLogDirsRequestTopic) []*partition.Log {
	t := b.topics.get(rt.Topic)
	if t == nil {
		return nil
	}
	var out []*partition.Log
	for _, p := range rt.Partitions {
		if l := t.partition(p); l != nil {
			out = append(out, l)
		}
	}
	return out
}

// appendLogDirTopic adds a topic with its partitions' sizes (none: not
// added).
func appendLogDirTopic(dir *kmsg.DescribeLogDirsResponseDir, name string, logs []*partition.Log) {
	if len(logs) == 0 {
		return
	}
	st := kmsg.NewDescribeLogDirsResponseDirTopic()
	st.Topic = name
	for _, l := range logs {
		if l == nil {
			continue // offline
		}
		sp := kmsg.NewDescribeLogDirsResponseDirTopicPartition()
		sp.Partition = l.Partition()
		sp.Size = l.Size()
		st.Partitions = append(st.Partitions, sp)
	}
	dir.Topics = append(dir.Topics, st)
}

// diskSpace returns the total and usable bytes of dir's file system, or -1
// and -1.
func (b *Broker) diskSpace(dir string) (total, usable int64) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		b.log.Warn("cannot statfs the data directory", "dir", dir, "err", err)
		return -1, -1
	}
	bsize := int64(st.Bsize)
	return int64(st.Blocks) * bsize, int64(st.Bavail) * bsize
}
