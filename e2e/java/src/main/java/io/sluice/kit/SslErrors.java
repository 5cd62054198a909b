package io.sluice.kit;

import java.util.Properties;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.common.errors.SslAuthenticationException;

/**
 * SslErrors: the Java client's TLS handshake failures, as Apache Kafka's
 * give them. A broker listener serving an expired certificate, and a
 * client trusting another CA than the one that signed the broker's
 * certificate: both fail with SslAuthenticationException.
 *
 * Usage: SslErrors GOOD-ADDR EXPIRED-ADDR CA.pem OTHER-CA.pem (both SSL
 * listeners; CA.pem signed both certificates)
 */
public final class SslErrors {
    static Properties ssl(String bootstrap, String truststore) {
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        p.put("client.id", "ssl-errors");
        p.put("security.protocol", "SSL");
        p.put("ssl.truststore.type", "PEM");
        p.put("ssl.truststore.location", truststore);
        p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "30000");
        return p;
    }

    static void expectHandshakeFailure(String bootstrap, String truststore, String what) throws Exception {
        try (Admin admin = Admin.create(ssl(bootstrap, truststore))) {
            Kit.expectError(admin.describeCluster().clusterId(), SslAuthenticationException.class, what);
        }
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 4) {
            System.err.println("usage: SslErrors GOOD-ADDR EXPIRED-ADDR CA.pem OTHER-CA.pem");
            System.exit(2);
        }
        Kit kit = Kit.fromArgs("SslErrors", new String[] {args[0]});
        String good = args[0], expired = args[1], ca = args[2], otherCA = args[3];
        kit.run("trusted-certificate", () -> {
            try (Admin admin = Admin.create(ssl(good, ca))) {
                Kit.check(!Kit.get(admin.describeCluster().clusterId()).isEmpty(), "empty cluster id");
            }
        });
        kit.run("expired-server-certificate", () -> expectHandshakeFailure(expired, ca, "expired certificate"));
        kit.run("wrong-ca", () -> expectHandshakeFailure(good, otherCA, "a truststore of another CA"));
        kit.finish();
    }
}
