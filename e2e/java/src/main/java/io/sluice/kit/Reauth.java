package io.sluice.kit;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Properties;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * Reauth: the Java client re-authenticates (KIP-368) over SASL_SSL with
 * SCRAM-SHA-512 when the broker's connections.max.reauth.ms ends its
 * session. A producer and a group consumer keep working, without an error,
 * until the broker's /metrics counts re-authentications and the consumer
 * has read every record sent.
 *
 * Usage: Reauth host:port CA.pem METRICS-URL (user bob, bob-pw)
 */
public final class Reauth {
    static Properties props(String bootstrap, String ca, String clientId) {
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        p.put("client.id", clientId);
        p.put("security.protocol", "SASL_SSL");
        p.put("ssl.truststore.type", "PEM");
        p.put("ssl.truststore.location", ca);
        p.put("sasl.mechanism", "SCRAM-SHA-512");
        p.put("sasl.jaas.config",
                "org.apache.kafka.common.security.scram.ScramLoginModule required username=\"bob\" password=\"bob-pw\";");
        return p;
    }

    /** The reauthenticated count on the broker's /metrics. */
    static long reauthenticated(HttpClient http, String url) throws Exception {
        String body = http.send(HttpRequest.newBuilder(URI.create(url)).build(), HttpResponse.BodyHandlers.ofString()).body();
        for (String line : body.split("\n")) {
            if (line.startsWith("sluice_sasl_authentications_total{result=\"reauthenticated\"}")) {
                return (long) Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
            }
        }
        return 0;
    }

    public static void main(String[] args) {
        if (args.length != 3) {
            System.err.println("usage: Reauth host:port CA.pem METRICS-URL");
            System.exit(2);
        }
        Kit kit = Kit.fromArgs("Reauth", new String[] {args[0]});
        String bootstrap = args[0], ca = args[1], url = args[2];
        kit.run("produce-consume-across-reauthentication", () -> {
            String topic = Kit.unique("reauth");
            try (Admin a = Admin.create(props(bootstrap, ca, "reauth-admin"))) {
                Kit.createTopic(a, topic, 1, Map.of());
            }
            Properties c = props(bootstrap, ca, "reauth-consumer");
            c.put("group.id", topic);
            c.put("group.protocol", "classic");
            c.put("auto.offset.reset", "earliest");
            c.put("fetch.max.wait.ms", "100");
            HttpClient http = HttpClient.newHttpClient();
            long before = reauthenticated(http, url);
            int[] sent = {0}, got = {0};
            try (KafkaProducer<String, String> p = new KafkaProducer<>(props(bootstrap, ca, "reauth-producer"),
                    new StringSerializer(), new StringSerializer());
                    KafkaConsumer<String, String> consumer = new KafkaConsumer<>(c, new StringDeserializer(),
                            new StringDeserializer())) {
                consumer.subscribe(List.of(topic));
                Kit.waitFor("the broker to count re-authentications", () -> {
                    try {
                        Kit.get(p.send(new ProducerRecord<>(topic, "v" + sent[0])));
                        sent[0]++;
                        got[0] += consumer.poll(Duration.ofMillis(100)).count();
                        return reauthenticated(http, url) >= before + 2;
                    } catch (Exception e) {
                        throw new RuntimeException(e);
                    }
                });
                Kit.waitFor("every record sent to be read", () -> {
                    got[0] += consumer.poll(Duration.ofMillis(100)).count();
                    return got[0] == sent[0];
                });
                consumer.commitSync();
            }
        });
        kit.finish();
    }
}
