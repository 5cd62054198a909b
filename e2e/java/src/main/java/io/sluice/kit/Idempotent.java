package io.sluice.kit;

import static io.sluice.kit.Kit.check;
import static io.sluice.kit.Kit.eq;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.Future;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * Idempotent: the Java producer with enable.idempotence=true (InitProducerId,
 * then sequence numbers per partition), acks=all and five requests in flight
 * per connection. Records sent asynchronously to three partitions, in small
 * batches so many requests overlap, come back exactly once and in send order
 * per partition; a second producer (a new producer id) appends after the
 * first; and a producer closed and reopened keeps appending.
 *
 * Usage: Idempotent host:port [case…]
 */
public final class Idempotent {
    private static final int PARTITIONS = 3;

    public static void main(String[] args) throws Exception {
        Kit kit = Kit.fromArgs("Idempotent", args);
        try (Admin admin = kit.admin()) {
            String topic = Kit.unique("idem");
            Kit.createTopic(admin, topic, PARTITIONS, Map.of());
            kit.run("in-flight-5-exactly-once-in-order", () -> {
                send(kit, topic, "a", 3000);
                verify(kit, topic, List.of("a"), 3000);
            });
            kit.run("second-producer-appends", () -> {
                send(kit, topic, "b", 600);
                verify(kit, topic, List.of("a", "b"), 3000 + 600);
            });
            kit.run("default-config-is-idempotent", () -> {
                // Kafka 3.0+ producers default to enable.idempotence=true with acks=all.
                Properties p = kit.props("kit-idem-default");
                try (KafkaProducer<String, String> pr = new KafkaProducer<>(p, new StringSerializer(),
                        new StringSerializer())) {
                    RecordMetadata md = Kit.get(pr.send(new ProducerRecord<>(topic, 0, "k", "default")));
                    check(md.offset() >= 0, "offset %d", md.offset());
                }
            });
        }
        kit.finish();
    }

    static KafkaProducer<String, String> producer(Kit kit, String id) {
        Properties p = kit.props("kit-idem-" + id);
        p.put("enable.idempotence", "true");
        p.put("acks", "all");
        p.put("max.in.flight.requests.per.connection", "5");
        p.put("batch.size", "512"); // many small batches: requests overlap
        p.put("linger.ms", "0");
        p.put("compression.type", "zstd");
        return new KafkaProducer<>(p, new StringSerializer(), new StringSerializer());
    }

    /** Sends n records "ID-i" round-robin over the partitions; requires every ack. */
    static void send(Kit kit, String topic, String id, int n) throws Exception {
        List<Future<RecordMetadata>> acks = new ArrayList<>(n);
        try (KafkaProducer<String, String> p = producer(kit, id)) {
            for (int i = 0; i < n; i++) {
                acks.add(p.send(new ProducerRecord<>(topic, i % PARTITIONS, id, id + "-" + i)));
            }
            p.flush();
        }
        long[] last = new long[PARTITIONS];
        java.util.Arrays.fill(last, -1);
        for (int i = 0; i < n; i++) {
            RecordMetadata md = Kit.get(acks.get(i));
            check(md.offset() > last[md.partition()], "record %d: ack offset %d not after %d on partition %d", i,
                    md.offset(), last[md.partition()], md.partition());
            last[md.partition()] = md.offset();
        }
    }

    /** Reads every partition to its end: records of the producers ids, each once, in order, contiguous offsets. */
    static void verify(Kit kit, String topic, List<String> ids, int total) throws Exception {
        Properties p = kit.props("kit-idem-reader");
        p.put("fetch.max.wait.ms", "100");
        List<TopicPartition> tps = new ArrayList<>();
        for (int i = 0; i < PARTITIONS; i++) {
            tps.add(new TopicPartition(topic, i));
        }
        Map<TopicPartition, List<ConsumerRecord<String, String>>> got = new HashMap<>();
        try (KafkaConsumer<String, String> c = new KafkaConsumer<>(p, new StringDeserializer(), new StringDeserializer())) {
            c.assign(tps);
            c.seekToBeginning(tps);
            Map<TopicPartition, Long> end = c.endOffsets(tps, Kit.TIMEOUT);
            long want = end.values().stream().mapToLong(Long::longValue).sum();
            eq((long) total, want, "records in the topic (sum of end offsets)");
            int n = 0;
            long deadline = System.nanoTime() + Kit.TIMEOUT.toNanos();
            while (n < want) {
                check(System.nanoTime() < deadline, "read %d of %d records", n, want);
                for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(100))) {
                    got.computeIfAbsent(new TopicPartition(r.topic(), r.partition()), k -> new ArrayList<>()).add(r);
                    n++;
                }
            }
        }
        for (TopicPartition tp : tps) {
            Map<String, Integer> next = new HashMap<>();
            long offset = 0;
            for (ConsumerRecord<String, String> r : got.getOrDefault(tp, List.of())) {
                eq(offset++, r.offset(), tp + " offset");
                String[] f = r.value().split("-");
                int i = Integer.parseInt(f[1]);
                int want = next.getOrDefault(f[0], tp.partition());
                eq(want, i, tp + " record index of producer " + f[0] + " at offset " + r.offset());
                next.put(f[0], i + PARTITIONS);
            }
            for (String id : ids) {
                check(next.containsKey(id), "%s: no record of producer %s", tp, id);
            }
        }
    }
}
