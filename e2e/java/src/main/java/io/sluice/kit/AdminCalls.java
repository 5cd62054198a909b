package io.sluice.kit;

import static io.sluice.kit.Kit.check;
import static io.sluice.kit.Kit.eq;
import static io.sluice.kit.Kit.expectError;
import static io.sluice.kit.Kit.get;

import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.CreateTopicsOptions;
import org.apache.kafka.clients.admin.DescribeClusterResult;
import org.apache.kafka.clients.admin.GroupListing;
import org.apache.kafka.clients.admin.ListGroupsOptions;
import org.apache.kafka.clients.admin.ListOffsetsResult.ListOffsetsResultInfo;
import org.apache.kafka.clients.admin.LogDirDescription;
import org.apache.kafka.clients.admin.NewPartitions;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.RecordsToDelete;
import org.apache.kafka.clients.admin.ReplicaInfo;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.GroupState;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.errors.GroupIdNotFoundException;
import org.apache.kafka.common.errors.InvalidConfigurationException;
import org.apache.kafka.common.errors.InvalidPartitionsException;
import org.apache.kafka.common.errors.InvalidReplicationFactorException;
import org.apache.kafka.common.errors.OffsetOutOfRangeException;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * AdminCalls: the Admin client's calls that the broker serves, in order on
 * one topic: CreateTopics (with configs; duplicate, bad partition count,
 * bad replication factor and bad config rejected; validateOnly creates
 * nothing), Metadata through describeTopics, DescribeCluster,
 * DescribeConfigs (topic and broker), IncrementalAlterConfigs (SET, DELETE,
 * a bad value), CreatePartitions (grow, shrink rejected), ListOffsets
 * (earliest, latest, by timestamp, max timestamp), DeleteRecords,
 * DescribeLogDirs, the group offset calls (AlterConsumerGroupOffsets,
 * ListConsumerGroupOffsets, ListGroups, DescribeGroups, OffsetDelete,
 * DeleteGroups) and DeleteTopics.
 *
 * Usage: AdminCalls host:port [case…]
 */
public final class AdminCalls {
    private static final int RECORDS = 10;

    public static void main(String[] args) throws Exception {
        Kit kit = Kit.fromArgs("AdminCalls", args);
        String topic = Kit.unique("adm");
        String group = Kit.unique("kit-admin-group");
        ConfigResource topicRes = new ConfigResource(ConfigResource.Type.TOPIC, topic);
        long[] firstTs = new long[1];
        int[] nodeId = {-1};
        try (Admin admin = kit.admin()) {
            kit.run("create-topics", () -> {
                Kit.createTopic(admin, topic, 2, Map.of("retention.ms", "3600000", "cleanup.policy", "delete"));
                check(get(admin.listTopics().names()).contains(topic), "listTopics misses %s", topic);
                expectError(admin.createTopics(List.of(new NewTopic(topic, 2, (short) 1))).all(),
                        TopicExistsException.class, "create an existing topic");
            });
            kit.run("create-topics-rejected", () -> {
                expectError(admin.createTopics(List.of(new NewTopic(topic + "-zero", 0, (short) 1))).all(),
                        InvalidPartitionsException.class, "0 partitions");
                expectError(admin.createTopics(List.of(new NewTopic(topic + "-rf3", 1, (short) 3))).all(),
                        InvalidReplicationFactorException.class, "replication factor 3 on one broker");
                expectError(admin.createTopics(List.of(new NewTopic(topic + "-badcfg", 1, (short) 1)
                        .configs(Map.of("retention.ms", "soon")))).all(),
                        InvalidConfigurationException.class, "retention.ms=soon");
                Set<String> names = get(admin.listTopics().names());
                for (String bad : List.of("-zero", "-rf3", "-badcfg")) {
                    check(!names.contains(topic + bad), "rejected topic %s exists", topic + bad);
                }
            });
            kit.run("create-topics-validate-only", () -> {
                get(admin.createTopics(List.of(new NewTopic(topic + "-dry", 3, (short) 1)),
                        new CreateTopicsOptions().validateOnly(true)).all());
                check(!get(admin.listTopics().names()).contains(topic + "-dry"), "validateOnly created the topic");
            });
            kit.run("describe-cluster", () -> {
                DescribeClusterResult r = admin.describeCluster();
                Collection<Node> nodes = get(r.nodes());
                eq(1, nodes.size(), "nodes");
                Node n = nodes.iterator().next();
                nodeId[0] = n.id();
                eq(kit.bootstrap, n.host() + ":" + n.port(), "node address");
                String id = get(r.clusterId());
                check(id != null && !id.isEmpty(), "cluster id %s", id);
                Node controller = get(r.controller());
                check(controller != null && controller.id() == n.id(), "controller %s, want node %d", controller, n.id());
            });
            kit.run("describe-topics", () -> {
                TopicDescription d = get(admin.describeTopics(List.of(topic)).allTopicNames()).get(topic);
                eq(2, d.partitions().size(), "partitions");
                check(!d.isInternal(), "internal topic");
                for (TopicPartitionInfo p : d.partitions()) {
                    check(p.leader() != null && p.leader().id() == nodeId[0], "partition %d leader %s, want node %d",
                            p.partition(), p.leader(), nodeId[0]);
                    eq(1, p.replicas().size(), "partition " + p.partition() + " replicas");
                    eq(1, p.isr().size(), "partition " + p.partition() + " isr");
                }
                expectError(admin.describeTopics(List.of(topic + "-missing")).allTopicNames(),
                        UnknownTopicOrPartitionException.class, "describe a missing topic");
            });
            kit.run("describe-topics-topic-id", () -> {
                TopicDescription d = get(admin.describeTopics(List.of(topic)).allTopicNames()).get(topic);
                check(d.topicId() != null && !d.topicId().equals(Uuid.ZERO_UUID), "topic id %s, want a non-zero id",
                        d.topicId());
            });
            kit.run("describe-configs-topic", () -> {
                Config c = get(admin.describeConfigs(List.of(topicRes)).all()).get(topicRes);
                ConfigEntry ret = c.get("retention.ms");
                check(ret != null, "no retention.ms");
                eq("3600000", ret.value(), "retention.ms");
                eq(ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG, ret.source(), "retention.ms source");
                ConfigEntry seg = c.get("segment.bytes");
                check(seg != null, "no segment.bytes");
                check(seg.isDefault(), "segment.bytes %s: want a default", seg);
                ConfigEntry max = c.get("max.message.bytes");
                check(max != null && max.value() != null, "no max.message.bytes");
                Integer.parseInt(max.value());
                check(c.get("cleanup.policy") != null, "no cleanup.policy");
            });
            kit.run("describe-configs-broker", () -> {
                ConfigResource br = new ConfigResource(ConfigResource.Type.BROKER, Integer.toString(nodeId[0]));
                Config c = get(admin.describeConfigs(List.of(br)).all()).get(br);
                check(!c.entries().isEmpty(), "no broker configs");
                ConfigEntry e = c.get("log.segment.bytes");
                check(e != null && e.value() != null, "no log.segment.bytes among %d entries", c.entries().size());
            });
            kit.run("incremental-alter-configs", () -> {
                get(admin.incrementalAlterConfigs(Map.of(topicRes, List.of(
                        new AlterConfigOp(new ConfigEntry("retention.ms", "7200000"), AlterConfigOp.OpType.SET),
                        new AlterConfigOp(new ConfigEntry("cleanup.policy", ""), AlterConfigOp.OpType.DELETE)))).all());
                Config c = get(admin.describeConfigs(List.of(topicRes)).all()).get(topicRes);
                eq("7200000", c.get("retention.ms").value(), "retention.ms after SET");
                eq("delete", c.get("cleanup.policy").value(), "cleanup.policy after DELETE");
                check(c.get("cleanup.policy").isDefault(), "cleanup.policy after DELETE: %s, want a default",
                        c.get("cleanup.policy"));
                expectError(admin.incrementalAlterConfigs(Map.of(topicRes, List.of(
                        new AlterConfigOp(new ConfigEntry("retention.ms", "soon"), AlterConfigOp.OpType.SET)))).all(),
                        InvalidConfigurationException.class, "SET retention.ms=soon");
                eq("7200000", get(admin.describeConfigs(List.of(topicRes)).all()).get(topicRes).get("retention.ms")
                        .value(), "retention.ms after a rejected SET");
            });
            kit.run("create-partitions", () -> {
                get(admin.createPartitions(Map.of(topic, NewPartitions.increaseTo(4))).all());
                TopicDescription d = get(admin.describeTopics(List.of(topic)).allTopicNames()).get(topic);
                eq(4, d.partitions().size(), "partitions after increaseTo(4)");
                expectError(admin.createPartitions(Map.of(topic, NewPartitions.increaseTo(2))).all(),
                        InvalidPartitionsException.class, "shrink to 2 partitions");
            });
            TopicPartition tp0 = new TopicPartition(topic, 0);
            kit.run("list-offsets", () -> {
                Properties p = kit.props("kit-admin-producer");
                firstTs[0] = System.currentTimeMillis() - 600_000;
                try (KafkaProducer<String, String> pr = new KafkaProducer<>(p, new StringSerializer(), new StringSerializer())) {
                    for (int i = 0; i < RECORDS; i++) {
                        // timestamps ts, ts+1000, …, with the largest at offset 7
                        long ts = i == 7 ? firstTs[0] + 100_000 : firstTs[0] + 1000L * i;
                        pr.send(new ProducerRecord<>(topic, 0, ts, "k" + i, "v" + i));
                    }
                    pr.flush();
                }
                eq(0L, offset(admin, tp0, OffsetSpec.earliest()), "earliest");
                eq((long) RECORDS, offset(admin, tp0, OffsetSpec.latest()), "latest");
                eq(3L, offset(admin, tp0, OffsetSpec.forTimestamp(firstTs[0] + 2500)), "first offset at or after ts+2500");
                eq(-1L, offset(admin, tp0, OffsetSpec.forTimestamp(firstTs[0] + 200_000)), "offset after every timestamp");
                ListOffsetsResultInfo max = get(admin.listOffsets(Map.of(tp0, OffsetSpec.maxTimestamp())).all()).get(tp0);
                eq(7L, max.offset(), "max timestamp offset");
                eq(firstTs[0] + 100_000, max.timestamp(), "max timestamp");
            });
            kit.run("delete-records", () -> {
                long low = get(admin.deleteRecords(Map.of(tp0, RecordsToDelete.beforeOffset(4))).lowWatermarks().get(tp0)).lowWatermark();
                eq(4L, low, "low watermark");
                eq(4L, offset(admin, tp0, OffsetSpec.earliest()), "earliest after delete");
                eq((long) RECORDS, offset(admin, tp0, OffsetSpec.latest()), "latest after delete");
                expectError(admin.deleteRecords(Map.of(tp0, RecordsToDelete.beforeOffset(RECORDS + 5))).all(),
                        OffsetOutOfRangeException.class, "delete beyond the high watermark");
            });
            kit.run("describe-log-dirs", () -> {
                Map<String, LogDirDescription> dirs = get(admin.describeLogDirs(List.of(nodeId[0])).allDescriptions())
                        .get(nodeId[0]);
                eq(1, dirs.size(), "log dirs");
                LogDirDescription d = dirs.values().iterator().next();
                check(d.error() == null, "log dir error %s", d.error());
                for (int p = 0; p < 4; p++) {
                    check(d.replicaInfos().containsKey(new TopicPartition(topic, p)), "no replica info for partition %d", p);
                }
                ReplicaInfo ri = d.replicaInfos().get(tp0);
                check(ri.size() > 0, "partition 0 size %d, want > 0", ri.size());
                check(d.totalBytes().isPresent() && d.totalBytes().getAsLong() > 0, "total bytes %s", d.totalBytes());
                check(d.usableBytes().isPresent(), "usable bytes missing");
            });
            TopicPartition tp1 = new TopicPartition(topic, 1);
            kit.run("group-offsets", () -> {
                get(admin.alterConsumerGroupOffsets(group, Map.of(tp0, new OffsetAndMetadata(6, "meta-0"),
                        tp1, new OffsetAndMetadata(0))).all());
                Map<TopicPartition, OffsetAndMetadata> offs = get(
                        admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata());
                eq(2, offs.size(), "committed partitions");
                eq(6L, offs.get(tp0).offset(), "partition 0 offset");
                eq("meta-0", offs.get(tp0).metadata(), "partition 0 metadata");
                eq(0L, offs.get(tp1).offset(), "partition 1 offset");
            });
            kit.run("list-describe-groups", () -> {
                Collection<GroupListing> gs = get(admin.listGroups(ListGroupsOptions.forConsumerGroups()).all());
                GroupListing g = gs.stream().filter(x -> x.groupId().equals(group)).findFirst().orElse(null);
                check(g != null, "listGroups misses %s among %d", group, gs.size());
                eq(java.util.Optional.of(GroupState.EMPTY), g.groupState(), "listed group state");
                check(listedByOldCall(admin, group), "listConsumerGroups misses %s", group);
                ConsumerGroupDescription d = get(admin.describeConsumerGroups(List.of(group)).all()).get(group);
                eq(GroupState.EMPTY, d.groupState(), "described group state");
                eq(0, d.members().size(), "members");
            });
            kit.run("delete-group-offsets", () -> {
                get(admin.deleteConsumerGroupOffsets(group, Set.of(tp1)).all());
                Map<TopicPartition, OffsetAndMetadata> offs = get(
                        admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata());
                eq(Set.of(tp0), offs.keySet(), "committed partitions after OffsetDelete");
            });
            kit.run("delete-groups", () -> {
                get(admin.deleteConsumerGroups(List.of(group)).all());
                Collection<GroupListing> gs = get(admin.listGroups().all());
                check(gs.stream().noneMatch(x -> x.groupId().equals(group)), "group %s still listed", group);
                expectError(admin.deleteConsumerGroups(List.of(group)).all(), GroupIdNotFoundException.class,
                        "delete a deleted group");
            });
            kit.run("delete-topics", () -> {
                get(admin.deleteTopics(List.of(topic)).all());
                Kit.waitFor("the topic to leave listTopics", () -> {
                    try {
                        return !get(admin.listTopics().names()).contains(topic);
                    } catch (Exception e) {
                        throw new RuntimeException(e);
                    }
                });
                expectError(admin.describeTopics(List.of(topic)).allTopicNames(),
                        UnknownTopicOrPartitionException.class, "describe a deleted topic");
                expectError(admin.deleteTopics(List.of(topic)).all(), UnknownTopicOrPartitionException.class,
                        "delete a deleted topic");
            });
        }
        kit.finish();
    }

    /** The pre-4.0 call, deprecated for listGroups but still what older tools use. */
    @SuppressWarnings({"deprecation", "removal"})
    static boolean listedByOldCall(Admin admin, String group) throws Exception {
        return get(admin.listConsumerGroups().all()).stream().anyMatch(x -> x.groupId().equals(group));
    }

    static long offset(Admin admin, TopicPartition tp, OffsetSpec spec) throws Exception {
        return get(admin.listOffsets(Map.of(tp, spec)).all()).get(tp).offset();
    }
}
