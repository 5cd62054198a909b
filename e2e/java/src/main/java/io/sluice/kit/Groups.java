package io.sluice.kit;

import static io.sluice.kit.Kit.check;
import static io.sluice.kit.Kit.eq;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.MemberDescription;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.GroupState;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * Groups: a consumer group on the classic protocol (group.protocol=classic)
 * with two members, each a KafkaConsumer on its own thread. The cases run in
 * order and share the group: both members get disjoint assignments covering
 * every partition; together they consume every record once and commit; the
 * Admin client sees the group Stable with two members and the committed
 * offsets at the end; when one member leaves the other takes every
 * partition; when both leave the group is Empty with its offsets kept.
 *
 * Usage: Groups host:port
 */
public final class Groups {
    private static final int PARTITIONS = 4;
    private static final int RECORDS = 400;

    /** One group member polling on its own thread. */
    static final class Member implements AutoCloseable {
        final String name;
        final KafkaConsumer<String, String> consumer;
        final Thread thread;
        final AtomicBoolean stop = new AtomicBoolean();
        final AtomicReference<Set<TopicPartition>> assigned = new AtomicReference<>(Set.of());
        final AtomicReference<Throwable> error = new AtomicReference<>();
        final Collection<ConsumerRecord<String, String>> records;
        volatile boolean commitNow;
        volatile int commits;

        Member(Kit kit, String name, String group, String topic, Collection<ConsumerRecord<String, String>> sink) {
            this.name = name;
            this.records = sink;
            Properties p = kit.props(name);
            p.put("group.id", group);
            p.put("group.protocol", "classic");
            p.put("auto.offset.reset", "earliest");
            p.put("enable.auto.commit", "false");
            p.put("fetch.max.wait.ms", "100");
            p.put("session.timeout.ms", "10000");
            p.put("heartbeat.interval.ms", "500");
            consumer = new KafkaConsumer<>(p, new StringDeserializer(), new StringDeserializer());
            thread = new Thread(() -> loop(topic), name);
            thread.start();
        }

        void loop(String topic) {
            try {
                consumer.subscribe(List.of(topic), new ConsumerRebalanceListener() {
                    @Override
                    public void onPartitionsRevoked(Collection<TopicPartition> parts) {
                        consumer.commitSync();
                    }

                    @Override
                    public void onPartitionsAssigned(Collection<TopicPartition> parts) {
                    }
                });
                while (!stop.get()) {
                    for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(100))) {
                        records.add(r);
                    }
                    assigned.set(new HashSet<>(consumer.assignment()));
                    if (commitNow) {
                        consumer.commitSync(Kit.TIMEOUT);
                        commitNow = false;
                        commits++;
                    }
                }
            } catch (Throwable e) {
                error.set(e);
            } finally {
                consumer.close(); // leaves the group (LeaveGroup)
            }
        }

        void commit() throws InterruptedException {
            int before = commits;
            commitNow = true;
            Kit.waitFor(name + " to commit", () -> commits > before || error.get() != null);
            healthy();
        }

        void healthy() {
            Throwable e = error.get();
            if (e != null) {
                throw new AssertionError(name + " failed: " + Kit.describe(e), e);
            }
        }

        @Override
        public void close() {
            stop.set(true);
            try {
                thread.join(Kit.TIMEOUT.toMillis());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            check(!thread.isAlive(), "%s did not stop within %s", name, Kit.TIMEOUT);
        }
    }

    public static void main(String[] args) throws Exception {
        Kit kit = Kit.fromArgs("Groups", args);
        String topic = Kit.unique("grp");
        String group = Kit.unique("kit-group");
        Collection<ConsumerRecord<String, String>> sink = new ConcurrentLinkedQueue<>();
        List<Member> members = new ArrayList<>();
        try (Admin admin = kit.admin()) {
            Kit.createTopic(admin, topic, PARTITIONS, Map.of());
            kit.run("two-members-split-partitions", () -> {
                members.add(new Member(kit, "member-a", group, topic, sink));
                Kit.waitFor("member-a to own every partition", () -> members.get(0).assigned.get().size() == PARTITIONS);
                members.add(new Member(kit, "member-b", group, topic, sink));
                Kit.waitFor("both members to own partitions", () -> {
                    Set<TopicPartition> a = members.get(0).assigned.get(), b = members.get(1).assigned.get();
                    Set<TopicPartition> union = new HashSet<>(a);
                    union.addAll(b);
                    return !a.isEmpty() && !b.isEmpty() && union.size() == PARTITIONS && a.size() + b.size() == PARTITIONS;
                });
                for (Member m : members) {
                    m.healthy();
                }
            });
            kit.run("consume-all-once-and-commit", () -> {
                try (KafkaProducer<String, String> p = new KafkaProducer<>(kit.props("kit-group-producer"),
                        new StringSerializer(), new StringSerializer())) {
                    for (int i = 0; i < RECORDS; i++) {
                        p.send(new ProducerRecord<>(topic, i % PARTITIONS, "k" + i, "v" + i));
                    }
                    p.flush();
                }
                Kit.waitFor(RECORDS + " records consumed", () -> sink.size() >= RECORDS);
                Set<String> values = new HashSet<>();
                for (ConsumerRecord<String, String> r : sink) {
                    check(values.add(r.value()), "record %s consumed twice", r.value());
                }
                eq(RECORDS, values.size(), "distinct records consumed");
                for (Member m : members) {
                    m.commit();
                }
            });
            kit.run("describe-stable-two-members", () -> {
                ConsumerGroupDescription d = Kit.get(admin.describeConsumerGroups(List.of(group)).all()).get(group);
                eq(GroupState.STABLE, d.groupState(), "group state");
                eq(2, d.members().size(), "members");
                check(!d.isSimpleConsumerGroup(), "isSimpleConsumerGroup: want false");
                check(!d.partitionAssignor().isEmpty(), "partition assignor empty");
                Set<TopicPartition> all = new HashSet<>();
                for (MemberDescription m : d.members()) {
                    check(m.clientId().startsWith("member-"), "member client id %s", m.clientId());
                    all.addAll(m.assignment().topicPartitions());
                }
                eq(PARTITIONS, all.size(), "partitions assigned across members");
            });
            kit.run("committed-offsets-at-end", () -> {
                Map<TopicPartition, OffsetAndMetadata> offs = Kit.get(
                        admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata());
                eq(PARTITIONS, offs.size(), "committed partitions");
                for (int p = 0; p < PARTITIONS; p++) {
                    OffsetAndMetadata om = offs.get(new TopicPartition(topic, p));
                    check(om != null, "no committed offset for partition %d", p);
                    eq((long) (RECORDS / PARTITIONS), om.offset(), "committed offset of partition " + p);
                }
            });
            kit.run("member-leaves-other-takes-all", () -> {
                members.get(1).close();
                Kit.waitFor("member-a to own every partition again",
                        () -> members.get(0).assigned.get().size() == PARTITIONS);
                members.get(0).healthy();
                ConsumerGroupDescription d = Kit.get(admin.describeConsumerGroups(List.of(group)).all()).get(group);
                eq(1, d.members().size(), "members after one left");
            });
            kit.run("all-leave-group-empty", () -> {
                members.get(0).close();
                ConsumerGroupDescription d = Kit.get(admin.describeConsumerGroups(List.of(group)).all()).get(group);
                eq(GroupState.EMPTY, d.groupState(), "group state");
                eq(0, d.members().size(), "members");
                Map<TopicPartition, OffsetAndMetadata> offs = Kit.get(
                        admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata());
                eq(PARTITIONS, offs.size(), "committed partitions kept after the members left");
            });
        } finally {
            for (Member m : members) {
                m.stop.set(true);
            }
        }
        kit.finish();
    }
}
