package io.sluice.kit;

import static io.sluice.kit.Kit.check;
import static io.sluice.kit.Kit.eq;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
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
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.apache.kafka.common.record.TimestampType;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * RoundTrip: the Java producer and consumer against the broker, one case per
 * compression codec (none, gzip, snappy, lz4, zstd) with keys, null keys,
 * a null value, headers and CreateTime timestamps, then a topic with
 * message.timestamp.type=LogAppendTime, then one record near the default
 * max.message.bytes.
 *
 * Usage: RoundTrip host:port [case…]
 */
public final class RoundTrip {
    private static final int RECORDS = 200;

    public static void main(String[] args) throws Exception {
        Kit kit = Kit.fromArgs("RoundTrip", args);
        try (Admin admin = kit.admin()) {
            for (String codec : List.of("none", "gzip", "snappy", "lz4", "zstd")) {
                kit.run("codec-" + codec, () -> codec(kit, admin, codec));
            }
            kit.run("log-append-time", () -> logAppendTime(kit, admin));
            kit.run("large-record", () -> largeRecord(kit, admin));
        }
        kit.finish();
    }

    static KafkaProducer<byte[], byte[]> producer(Kit kit, String codec, int batchSize) {
        Properties p = kit.props("kit-producer-" + codec);
        p.put("compression.type", codec);
        p.put("acks", "all");
        p.put("linger.ms", "5");
        p.put("batch.size", Integer.toString(batchSize));
        p.put("delivery.timeout.ms", "60000");
        return new KafkaProducer<>(p, new ByteArraySerializer(), new ByteArraySerializer());
    }

    static KafkaConsumer<byte[], byte[]> consumer(Kit kit) {
        Properties p = kit.props("kit-consumer");
        p.put("fetch.max.wait.ms", "200");
        p.put("enable.auto.commit", "false");
        p.put("check.crcs", "true");
        return new KafkaConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer());
    }

    /** Reads n records of tp from offset from with a fresh consumer. */
    static List<ConsumerRecord<byte[], byte[]>> readN(Kit kit, TopicPartition tp, long from, int n)
            throws Exception {
        List<ConsumerRecord<byte[], byte[]>> out = new ArrayList<>();
        try (KafkaConsumer<byte[], byte[]> c = consumer(kit)) {
            c.assign(List.of(tp));
            c.seek(tp, from);
            long deadline = System.nanoTime() + Kit.TIMEOUT.toNanos();
            while (out.size() < n) {
                check(System.nanoTime() < deadline, "read %d of %d records of %s before %s", out.size(), n, tp,
                        Kit.TIMEOUT);
                for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(200))) {
                    out.add(r);
                }
            }
        }
        check(out.size() == n, "read %d records, want %d", out.size(), n);
        return out;
    }

    static byte[] bytes(String s) {
        return s == null ? null : s.getBytes(StandardCharsets.UTF_8);
    }

    static String str(byte[] b) {
        return b == null ? null : new String(b, StandardCharsets.UTF_8);
    }

    /** Record i: key k-i (null every 7th), value v-i-… (null every 50th), two headers. */
    static ProducerRecord<byte[], byte[]> record(String topic, int i, long ts) {
        byte[] key = i % 7 == 3 ? null : bytes("k-" + i);
        byte[] value = i % 50 == 49 ? null : bytes("v-" + i + "-" + "x".repeat(i % 97));
        List<Header> headers = List.of(new RecordHeader("h-index", bytes(Integer.toString(i))),
                new RecordHeader("h-empty", new byte[0]));
        return new ProducerRecord<>(topic, 0, ts + i, key, value, headers);
    }

    static void codec(Kit kit, Admin admin, String codec) throws Exception {
        String topic = Kit.unique("rt-" + codec);
        Kit.createTopic(admin, topic, 1, Map.of());
        long ts = System.currentTimeMillis() - 3_600_000; // an hour ago: not the broker's clock
        List<Future<RecordMetadata>> acks = new ArrayList<>();
        try (KafkaProducer<byte[], byte[]> p = producer(kit, codec, 16384)) {
            for (int i = 0; i < RECORDS; i++) {
                acks.add(p.send(record(topic, i, ts)));
            }
            p.flush();
        }
        for (int i = 0; i < RECORDS; i++) {
            RecordMetadata md = Kit.get(acks.get(i));
            eq((long) i, md.offset(), "ack offset of record " + i);
            eq(ts + i, md.timestamp(), "ack timestamp of record " + i + " (CreateTime)");
        }
        List<ConsumerRecord<byte[], byte[]>> got = readN(kit, new TopicPartition(topic, 0), 0, RECORDS);
        for (int i = 0; i < RECORDS; i++) {
            ProducerRecord<byte[], byte[]> want = record(topic, i, ts);
            ConsumerRecord<byte[], byte[]> r = got.get(i);
            String at = "record " + i;
            eq((long) i, r.offset(), at + " offset");
            eq(str(want.key()), str(r.key()), at + " key");
            eq(str(want.value()), str(r.value()), at + " value");
            eq(TimestampType.CREATE_TIME, r.timestampType(), at + " timestamp type");
            eq(want.timestamp(), r.timestamp(), at + " timestamp");
            Header[] hs = r.headers().toArray();
            eq(2, hs.length, at + " header count");
            eq("h-index", hs[0].key(), at + " header 0 key");
            eq(Integer.toString(i), str(hs[0].value()), at + " header 0 value");
            eq("h-empty", hs[1].key(), at + " header 1 key");
            check(hs[1].value() != null && hs[1].value().length == 0, "%s header 1: value %s, want empty",
                    at, Arrays.toString(hs[1].value()));
        }
    }

    static void logAppendTime(Kit kit, Admin admin) throws Exception {
        String topic = Kit.unique("rt-logappend");
        Kit.createTopic(admin, topic, 1, Map.of("message.timestamp.type", "LogAppendTime"));
        long old = 1_000_000_000_000L; // 2001: the broker must replace it
        long before = System.currentTimeMillis();
        List<Future<RecordMetadata>> acks = new ArrayList<>();
        try (KafkaProducer<byte[], byte[]> p = producer(kit, "lz4", 16384)) {
            for (int i = 0; i < 20; i++) {
                acks.add(p.send(record(topic, i, old)));
            }
            p.flush();
        }
        long after = System.currentTimeMillis();
        for (int i = 0; i < acks.size(); i++) {
            long t = Kit.get(acks.get(i)).timestamp();
            check(t >= before - 1000 && t <= after + 1000, "ack %d: timestamp %d, want the broker's append time in [%d, %d]",
                    i, t, before, after);
        }
        for (ConsumerRecord<byte[], byte[]> r : readN(kit, new TopicPartition(topic, 0), 0, acks.size())) {
            eq(TimestampType.LOG_APPEND_TIME, r.timestampType(), "record " + r.offset() + " timestamp type");
            check(r.timestamp() >= before - 1000 && r.timestamp() <= after + 1000,
                    "record %d: timestamp %d, want the broker's append time in [%d, %d]", r.offset(), r.timestamp(),
                    before, after);
        }
    }

    static void largeRecord(Kit kit, Admin admin) throws Exception {
        String topic = Kit.unique("rt-large");
        Kit.createTopic(admin, topic, 1, Map.of());
        byte[] value = new byte[900 * 1024]; // under the default max.message.bytes (1 MiB + 12 bytes)
        for (int i = 0; i < value.length; i++) {
            value[i] = (byte) (i * 31 + (i >> 10));
        }
        try (KafkaProducer<byte[], byte[]> p = producer(kit, "none", 16384)) {
            Kit.get(p.send(new ProducerRecord<>(topic, 0, bytes("big"), value)));
        }
        ConsumerRecord<byte[], byte[]> r = readN(kit, new TopicPartition(topic, 0), 0, 1).get(0);
        check(Arrays.equals(value, r.value()), "the %d-byte value came back different (%d bytes)", value.length,
                r.value() == null ? -1 : r.value().length);
    }
}
