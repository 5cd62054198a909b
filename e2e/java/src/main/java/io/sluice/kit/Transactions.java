package io.sluice.kit;

import static io.sluice.kit.Kit.check;
import static io.sluice.kit.Kit.eq;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.FeatureMetadata;
import org.apache.kafka.clients.admin.FinalizedVersionRange;
import org.apache.kafka.clients.admin.TransactionDescription;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.InvalidProducerEpochException;
import org.apache.kafka.common.errors.ProducerFencedException;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * Transactions: the Java transactional producer. A commit and an abort
 * (read_committed sees the committed records only, read_uncommitted all of
 * them); sendOffsetsToTransaction commits a group's offsets with the
 * transaction, and an aborted one leaves them; a second producer with the
 * same transactional.id fences the first, whose open transaction is
 * aborted. transactions-v2: with transaction.version 2 finalized, ten
 * transactions in a row on one producer run transactions v2 (the epoch is
 * bumped at each EndTxn) and read_committed sees exactly the committed ones.
 *
 * Usage: Transactions host:port [case…]
 */
public final class Transactions {
    private static final int PARTITIONS = 3;

    public static void main(String[] args) throws Exception {
        Kit kit = Kit.fromArgs("Transactions", args);
        try (Admin admin = kit.admin()) {
            String topic = Kit.unique("txn");
            Kit.createTopic(admin, topic, PARTITIONS, Map.of());
            kit.run("commit-and-abort", () -> {
                try (KafkaProducer<String, String> p = producer(kit, Kit.unique("kit-txn"))) {
                    p.initTransactions();
                    send(p, topic, "c1", 9, true);
                    send(p, topic, "ab", 9, false);
                    send(p, topic, "c2", 6, true);
                }
                eq(15, read(kit, topic, "read_committed").size(), "read_committed records");
                eq(24, read(kit, topic, "read_uncommitted").size(), "read_uncommitted records");
                for (String v : read(kit, topic, "read_committed")) {
                    check(!v.startsWith("ab"), "aborted record %s read with read_committed", v);
                }
            });
            kit.run("transactions-v2", () -> {
                // The broker finalizes transaction.version 2: the client runs
                // transactions v2 (KIP-890 part 2), and the coordinator bumps
                // the producer epoch at every commit and abort (EndTxn v5).
                FeatureMetadata fm = Kit.get(admin.describeFeatures().featureMetadata());
                FinalizedVersionRange tv = fm.finalizedFeatures().get("transaction.version");
                check(tv != null && tv.maxVersionLevel() == 2, "finalized features %s", fm.finalizedFeatures());
                String id = Kit.unique("kit-txn-v2");
                String v2 = Kit.unique("txn-v2");
                Kit.createTopic(admin, v2, PARTITIONS, Map.of());
                final int n = 10;
                Set<String> want = new TreeSet<>();
                try (KafkaProducer<String, String> p = producer(kit, id)) {
                    p.initTransactions();
                    for (int i = 0; i < n; i++) {
                        boolean commit = i % 3 != 1;
                        send(p, v2, "t" + i, 4, commit);
                        for (int j = 0; commit && j < 4; j++) {
                            want.add("t" + i + "-" + j);
                        }
                    }
                    TransactionDescription d = Kit.get(admin.describeTransactions(List.of(id)).description(id));
                    eq(n, d.producerEpoch(), "producer epoch after " + n + " transactions (one bump per EndTxn v5)");
                }
                eq(want, new TreeSet<>(read(kit, v2, "read_committed")), "read_committed records");
            });
            kit.run("send-offsets-to-transaction", () -> {
                String group = Kit.unique("kit-txn-group");
                TopicPartition tp = new TopicPartition(topic, 0);
                try (KafkaProducer<String, String> p = producer(kit, Kit.unique("kit-txn-offsets"));
                        KafkaConsumer<String, String> c = consumer(kit, group, "read_committed")) {
                    c.subscribe(List.of(topic));
                    Kit.waitFor("an assignment", () -> {
                        c.poll(Duration.ofMillis(50));
                        return !c.assignment().isEmpty();
                    });
                    p.initTransactions();
                    p.beginTransaction();
                    p.send(new ProducerRecord<>(topic, 0, "k", "offsets-commit"));
                    p.sendOffsetsToTransaction(Map.of(tp, new OffsetAndMetadata(7)), c.groupMetadata());
                    p.commitTransaction();
                    p.beginTransaction();
                    p.sendOffsetsToTransaction(Map.of(tp, new OffsetAndMetadata(11)), c.groupMetadata());
                    p.abortTransaction();
                }
                Map<TopicPartition, OffsetAndMetadata> got = Kit.get(
                        admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata());
                check(got.get(tp) != null, "no committed offset for %s: %s", tp, got);
                eq(7L, got.get(tp).offset(), "committed offset after commit then abort");
            });
            kit.run("second-producer-fences-first", () -> {
                String id = Kit.unique("kit-txn-fence");
                String fenced = Kit.unique("fenced");
                try (KafkaProducer<String, String> a = producer(kit, id)) {
                    a.initTransactions();
                    a.beginTransaction();
                    Kit.get(a.send(new ProducerRecord<>(topic, 1, "k", fenced)));
                    try (KafkaProducer<String, String> b = producer(kit, id)) {
                        b.initTransactions(); // aborts a's transaction
                        send(b, topic, "b", 3, true);
                    }
                    try {
                        a.commitTransaction();
                        throw new AssertionError("the fenced producer committed");
                    } catch (ProducerFencedException | InvalidProducerEpochException e) {
                        // expected
                    } catch (KafkaException e) {
                        check(e.getCause() instanceof ProducerFencedException
                                || e.getCause() instanceof InvalidProducerEpochException,
                                "commit of the fenced producer: %s", Kit.describe(e));
                    }
                }
                for (String v : read(kit, topic, "read_committed")) {
                    check(!v.equals(fenced), "the fenced producer's record is visible");
                }
            });
        }
        kit.finish();
    }

    static KafkaProducer<String, String> producer(Kit kit, String txnId) {
        Properties p = kit.props("kit-txn-producer");
        p.put("transactional.id", txnId);
        p.put("transaction.timeout.ms", "30000");
        p.put("linger.ms", "0");
        return new KafkaProducer<>(p, new StringSerializer(), new StringSerializer());
    }

    static KafkaConsumer<String, String> consumer(Kit kit, String group, String isolation) {
        Properties p = kit.props("kit-txn-consumer");
        if (group != null) {
            p.put("group.id", group);
            p.put("enable.auto.commit", "false");
        }
        p.put("isolation.level", isolation);
        p.put("fetch.max.wait.ms", "100");
        p.put("auto.offset.reset", "earliest");
        return new KafkaConsumer<>(p, new StringDeserializer(), new StringDeserializer());
    }

    /** One transaction of n records "PREFIX-i" over the partitions, committed or aborted. */
    static void send(KafkaProducer<String, String> p, String topic, String prefix, int n, boolean commit) {
        p.beginTransaction();
        for (int i = 0; i < n; i++) {
            p.send(new ProducerRecord<>(topic, i % PARTITIONS, prefix, prefix + "-" + i));
        }
        if (commit) {
            p.commitTransaction();
        } else {
            p.flush();
            p.abortTransaction();
        }
    }

    /** Every value of topic read with isolation, up to the end offsets that isolation sees. */
    static List<String> read(Kit kit, String topic, String isolation) throws Exception {
        List<TopicPartition> tps = new ArrayList<>();
        for (int i = 0; i < PARTITIONS; i++) {
            tps.add(new TopicPartition(topic, i));
        }
        List<String> out = new ArrayList<>();
        try (KafkaConsumer<String, String> c = consumer(kit, null, isolation)) {
            c.assign(tps);
            c.seekToBeginning(tps);
            Map<TopicPartition, Long> end = c.endOffsets(tps, Kit.TIMEOUT);
            long deadline = System.nanoTime() + Kit.TIMEOUT.toNanos();
            while (true) {
                boolean done = true;
                for (TopicPartition tp : tps) {
                    done &= c.position(tp) >= end.get(tp);
                }
                if (done) {
                    break;
                }
                check(System.nanoTime() < deadline, "read %d records, positions short of %s", out.size(), end);
                for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(100))) {
                    out.add(r.value());
                }
            }
        }
        return out;
    }
}
