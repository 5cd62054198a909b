package io.sluice.kit;

import static io.sluice.kit.Kit.eq;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.errors.SaslAuthenticationException;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * Sasl: the Java client over SASL_PLAINTEXT. For PLAIN (user alice) and
 * SCRAM-SHA-512 (user bob), a producer writes records and a classic
 * consumer group reads them all back and commits; a wrong password and an
 * unknown user fail with SaslAuthenticationException (SASL_AUTHENTICATION_FAILED).
 *
 * With security.protocol=SASL_SSL (and a truststore) in
 * $SLUICE_KIT_CLIENT_PROPERTIES it does the same over SASL_SSL.
 *
 * Usage: Sasl host:port (the broker's SASL_PLAINTEXT listener; the test
 * configures alice/alice-pw as a PLAIN user and bob/bob-pw as a SCRAM user)
 */
public final class Sasl {
    private static final int RECORDS = 200;

    static Properties sasl(Kit kit, String clientId, String mechanism, String user, String password) {
        Properties p = kit.props(clientId);
        String module = mechanism.equals("PLAIN")
                ? "org.apache.kafka.common.security.plain.PlainLoginModule"
                : "org.apache.kafka.common.security.scram.ScramLoginModule";
        // SASL_PLAINTEXT unless $SLUICE_KIT_CLIENT_PROPERTIES asks for SASL_SSL.
        if (!p.getProperty("security.protocol", "").equals("SASL_SSL")) {
            p.put("security.protocol", "SASL_PLAINTEXT");
        }
        p.put("sasl.mechanism", mechanism);
        p.put("sasl.jaas.config", module + " required username=\"" + user + "\" password=\"" + password + "\";");
        return p;
    }

    static void roundTrip(Kit kit, String mechanism, String user, String password) throws Exception {
        String topic = Kit.unique("sasl-" + mechanism.toLowerCase());
        try (Admin admin = Admin.create(withAdmin(sasl(kit, "sasl-admin", mechanism, user, password)))) {
            Kit.createTopic(admin, topic, 2, Map.of());
        }
        try (KafkaProducer<String, String> p = new KafkaProducer<>(sasl(kit, "sasl-producer", mechanism, user, password),
                new StringSerializer(), new StringSerializer())) {
            for (int i = 0; i < RECORDS; i++) {
                p.send(new ProducerRecord<>(topic, "k" + i, "v" + i));
            }
            p.flush();
        }
        Properties c = sasl(kit, "sasl-consumer", mechanism, user, password);
        c.put("group.id", Kit.unique("sasl-group"));
        c.put("group.protocol", "classic");
        c.put("auto.offset.reset", "earliest");
        c.put("enable.auto.commit", "false");
        c.put("fetch.max.wait.ms", "100");
        List<ConsumerRecord<String, String>> got = new ArrayList<>();
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(c, new StringDeserializer(), new StringDeserializer())) {
            consumer.subscribe(List.of(topic));
            Kit.waitFor(RECORDS + " records", () -> {
                consumer.poll(Duration.ofMillis(200)).forEach(got::add);
                return got.size() >= RECORDS;
            });
            consumer.commitSync();
        }
        eq(RECORDS, got.size(), "records consumed");
    }

    static Properties withAdmin(Properties p) {
        p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "30000");
        return p;
    }

    static void expectAuthFailure(Kit kit, String mechanism, String user, String password) throws Exception {
        try (Admin admin = Admin.create(withAdmin(sasl(kit, "sasl-bad", mechanism, user, password)))) {
            Kit.expectError(admin.describeCluster().clusterId(), SaslAuthenticationException.class,
                    mechanism + " " + user);
        }
    }

    public static void main(String[] args) {
        Kit kit = Kit.fromArgs("Sasl", args);
        kit.run("plain-produce-consume-group", () -> roundTrip(kit, "PLAIN", "alice", "alice-pw"));
        kit.run("scram-sha-512-produce-consume-group", () -> roundTrip(kit, "SCRAM-SHA-512", "bob", "bob-pw"));
        kit.run("plain-wrong-password", () -> expectAuthFailure(kit, "PLAIN", "alice", "wrong"));
        kit.run("scram-wrong-password", () -> expectAuthFailure(kit, "SCRAM-SHA-512", "bob", "wrong"));
        kit.run("scram-unknown-user", () -> expectAuthFailure(kit, "SCRAM-SHA-512", "mallory", "x"));
        kit.run("plain-unknown-user", () -> expectAuthFailure(kit, "PLAIN", "mallory", "x"));
        kit.finish();
    }
}
