package io.sluice.kit;

import static io.sluice.kit.Kit.eq;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.Future;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.acl.AccessControlEntry;
import org.apache.kafka.common.acl.AccessControlEntryFilter;
import org.apache.kafka.common.acl.AclBinding;
import org.apache.kafka.common.acl.AclBindingFilter;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.acl.AclPermissionType;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.errors.ClusterAuthorizationException;
import org.apache.kafka.common.errors.GroupAuthorizationException;
import org.apache.kafka.common.errors.TopicAuthorizationException;
import org.apache.kafka.common.errors.TransactionalIdAuthorizationException;
import org.apache.kafka.common.resource.PatternType;
import org.apache.kafka.common.resource.ResourcePattern;
import org.apache.kafka.common.resource.ResourcePatternFilter;
import org.apache.kafka.common.resource.ResourceType;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * AclMatrix: the StandardAuthorizer's answers as the Java client surfaces
 * them. Over SASL_SSL, the super user admin (PLAIN, admin-pw) grants the
 * SCRAM-SHA-512 user carol (carol-pw) one ACL at a time; before each grant
 * carol's call fails with the exception Apache Kafka gives
 * (TopicAuthorizationException, ClusterAuthorizationException,
 * GroupAuthorizationException), after it the call works. The cases run in
 * order: each builds on the grants before it. The admin matrix then does
 * the same for Admin calls (topic and broker configs, topic creation and
 * deletion, ACLs, group offsets and deletion), each on one connection
 * across its grant; and a revoked ACL stops an open connection's calls.
 *
 * Usage: AclMatrix host:port CA.pem (a SASL_SSL listener with PLAIN and
 * SCRAM-SHA-512 and an authorizer; super.users=User:admin)
 */
public final class AclMatrix {
    private static String bootstrap, ca;
    private static final String TOPIC = Kit.unique("acl-matrix"), GROUP = Kit.unique("acl-matrix-group");

    static Properties props(String clientId, String mechanism, String user, String password) {
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        p.put("client.id", clientId);
        p.put("request.timeout.ms", "30000");
        p.put("security.protocol", "SASL_SSL");
        p.put("ssl.truststore.type", "PEM");
        p.put("ssl.truststore.location", ca);
        String module = mechanism.equals("PLAIN")
                ? "org.apache.kafka.common.security.plain.PlainLoginModule"
                : "org.apache.kafka.common.security.scram.ScramLoginModule";
        p.put("sasl.mechanism", mechanism);
        p.put("sasl.jaas.config", module + " required username=\"" + user + "\" password=\"" + password + "\";");
        p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "30000");
        return p;
    }

    static Properties carol(String clientId) {
        return props(clientId, "SCRAM-SHA-512", "carol", "carol-pw");
    }

    static Admin admin() {
        return Admin.create(props("acl-admin", "PLAIN", "admin", "admin-pw"));
    }

    /** The super user grants carol op on the resource. */
    static void grant(ResourceType type, String name, AclOperation op) throws Exception {
        try (Admin a = admin()) {
            Kit.get(a.createAcls(List.of(new AclBinding(new ResourcePattern(type, name, PatternType.LITERAL),
                    new AccessControlEntry("User:carol", "*", op, AclPermissionType.ALLOW)))).all());
        }
    }

    /** Requires c (or one of its causes) to be of type want. */
    static void expect(Throwable c, Class<? extends Throwable> want, String what) {
        for (Throwable e = c; e != null; e = e.getCause()) {
            if (want.isInstance(e)) {
                return;
            }
        }
        throw new AssertionError(what + ": got " + Kit.describe(c) + ", want " + want.getSimpleName());
    }

    /** Sends one record as carol; returns the failure, or null once written. */
    static Throwable produce(boolean idempotent) {
        Properties p = carol(idempotent ? "acl-idempotent" : "acl-producer");
        p.put("enable.idempotence", Boolean.toString(idempotent));
        p.put("acks", idempotent ? "all" : "1");
        p.put("max.block.ms", "15000");
        p.put("request.timeout.ms", "10000");
        p.put("delivery.timeout.ms", "15000");
        p.put("retries", idempotent ? "2147483647" : "0");
        try (KafkaProducer<String, String> pr = new KafkaProducer<>(p, new StringSerializer(), new StringSerializer())) {
            Future<RecordMetadata> f = pr.send(new ProducerRecord<>(TOPIC, "k", "v"));
            Kit.get(f);
            return null;
        } catch (Throwable e) {
            return e;
        }
    }

    static void mustFail(Throwable got, Class<? extends Throwable> want, String what) {
        if (got == null) {
            throw new AssertionError(what + ": succeeded, want " + want.getSimpleName());
        }
        expect(got, want, what);
    }

    static void mustWork(Throwable got, String what) {
        if (got != null) {
            throw new AssertionError(what + ": " + Kit.describe(got));
        }
    }

    static KafkaConsumer<String, String> consumer(String group) {
        Properties c = carol("acl-consumer");
        if (group != null) {
            c.put("group.id", group);
            c.put("group.protocol", "classic");
        }
        c.put("auto.offset.reset", "earliest");
        c.put("enable.auto.commit", "false");
        c.put("fetch.max.wait.ms", "100");
        return new KafkaConsumer<>(c, new StringDeserializer(), new StringDeserializer());
    }

    /** Reads the topic's records (assigned, or subscribed in group), committing; returns the failure or null. */
    static Throwable consume(String group, int want) {
        List<ConsumerRecord<String, String>> got = new ArrayList<>();
        try (KafkaConsumer<String, String> c = consumer(group)) {
            if (group == null) {
                c.assign(List.of(new TopicPartition(TOPIC, 0)));
            } else {
                c.subscribe(List.of(TOPIC));
            }
            Kit.waitFor(want + " records", () -> {
                c.poll(Duration.ofMillis(200)).forEach(got::add);
                return got.size() >= want;
            });
            if (group != null) {
                c.commitSync();
            }
            return null;
        } catch (Throwable e) {
            return e;
        }
    }

    static Throwable describeAcls() {
        try (Admin a = Admin.create(carol("acl-carol-admin"))) {
            Kit.get(a.describeAcls(AclBindingFilter.ANY).values());
            return null;
        } catch (Throwable e) {
            return e;
        }
    }

    /** An Admin call carol makes. */
    interface Call {
        void run(Admin a) throws Exception;
    }

    static Throwable attempt(Admin a, Call call) {
        try {
            call.run(a);
            return null;
        } catch (Throwable e) {
            return e;
        }
    }

    /**
     * A case of the admin matrix: call fails with want until carol is
     * granted op on the resource, then works on the same connection (the
     * broker must not keep a stale decision for it) once the new ACL is in
     * place.
     */
    static void adminCase(Kit kit, String name, Class<? extends Throwable> want, ResourceType type, String resource,
            AclOperation op, Call call) {
        kit.run(name, () -> {
            try (Admin a = Admin.create(carol("acl-carol-admin"))) {
                mustFail(attempt(a, call), want, name + " without " + op);
                grant(type, resource, op);
                Throwable[] last = new Throwable[1];
                try {
                    Kit.waitFor(name + " to work with " + op, () -> (last[0] = attempt(a, call)) == null);
                } catch (AssertionError e) {
                    throw new AssertionError(e.getMessage() + ": " + Kit.describe(last[0]));
                }
            }
        });
    }

    static void adminMatrix(Kit kit) {
        String created = Kit.unique("acl-created"), otherGroup = Kit.unique("acl-other-group");
        ConfigResource topic = new ConfigResource(ConfigResource.Type.TOPIC, TOPIC);
        adminCase(kit, "create-topic", TopicAuthorizationException.class, ResourceType.TOPIC, created, AclOperation.CREATE,
                a -> Kit.createTopic(a, created, 1, Map.of()));
        adminCase(kit, "delete-topic", TopicAuthorizationException.class, ResourceType.TOPIC, created, AclOperation.DELETE,
                a -> Kit.get(a.deleteTopics(List.of(created)).all()));
        adminCase(kit, "describe-topic-configs", TopicAuthorizationException.class, ResourceType.TOPIC, TOPIC,
                AclOperation.DESCRIBE_CONFIGS, a -> Kit.get(a.describeConfigs(List.of(topic)).all()));
        adminCase(kit, "alter-topic-configs", TopicAuthorizationException.class, ResourceType.TOPIC, TOPIC,
                AclOperation.ALTER_CONFIGS, a -> Kit.get(a.incrementalAlterConfigs(Map.of(topic, List.of(
                        new AlterConfigOp(new ConfigEntry("retention.ms", "3600000"), AlterConfigOp.OpType.SET)))).all()));
        adminCase(kit, "describe-broker-configs", ClusterAuthorizationException.class, ResourceType.CLUSTER,
                "kafka-cluster", AclOperation.DESCRIBE_CONFIGS, a -> {
                    String id = Integer.toString(Kit.get(a.describeCluster().nodes()).iterator().next().id());
                    Kit.get(a.describeConfigs(List.of(new ConfigResource(ConfigResource.Type.BROKER, id))).all());
                });
        adminCase(kit, "create-acls", ClusterAuthorizationException.class, ResourceType.CLUSTER, "kafka-cluster",
                AclOperation.ALTER, a -> Kit.get(a.createAcls(List.of(new AclBinding(
                        new ResourcePattern(ResourceType.TOPIC, "by-carol", PatternType.LITERAL),
                        new AccessControlEntry("User:dave", "*", AclOperation.READ, AclPermissionType.ALLOW)))).all()));
        adminCase(kit, "list-group-offsets", GroupAuthorizationException.class, ResourceType.GROUP, otherGroup,
                AclOperation.DESCRIBE, a -> Kit.get(a.listConsumerGroupOffsets(otherGroup).partitionsToOffsetAndMetadata()));
        adminCase(kit, "delete-group", GroupAuthorizationException.class, ResourceType.GROUP, GROUP, AclOperation.DELETE,
                a -> Kit.get(a.deleteConsumerGroups(List.of(GROUP)).all()));
    }

    /** initTransactions as carol with transactional.id id; returns the failure or null. */
    static Throwable initTransactions(String id) {
        Properties p = carol("acl-txn");
        p.put("transactional.id", id);
        p.put("max.block.ms", "15000");
        try (KafkaProducer<String, String> pr = new KafkaProducer<>(p, new StringSerializer(), new StringSerializer())) {
            pr.initTransactions();
            return null;
        } catch (Throwable e) {
            return e;
        }
    }

    public static void main(String[] args) {
        if (args.length != 2) {
            System.err.println("usage: AclMatrix host:port CA.pem");
            System.exit(2);
        }
        bootstrap = args[0];
        ca = args[1];
        Kit kit = Kit.fromArgs("AclMatrix", new String[] {bootstrap});
        kit.run("setup", () -> {
            try (Admin a = admin()) {
                Kit.createTopic(a, TOPIC, 1, Map.of());
            }
        });
        kit.run("produce-without-acl", () -> mustFail(produce(false), TopicAuthorizationException.class, "produce"));
        kit.run("consume-without-acl", () -> mustFail(consume(null, 1), TopicAuthorizationException.class, "consume"));
        kit.run("describe-acls-without-cluster-describe",
                () -> mustFail(describeAcls(), ClusterAuthorizationException.class, "describeAcls"));
        kit.run("idempotent-produce-without-idempotent-write", () -> {
            grant(ResourceType.TOPIC, TOPIC, AclOperation.DESCRIBE);
            mustFail(produce(true), ClusterAuthorizationException.class, "idempotent produce");
        });
        kit.run("idempotent-produce-with-idempotent-write-without-write", () -> {
            grant(ResourceType.CLUSTER, "kafka-cluster", AclOperation.IDEMPOTENT_WRITE);
            mustFail(produce(true), TopicAuthorizationException.class, "idempotent produce");
        });
        kit.run("produce-with-write", () -> {
            grant(ResourceType.TOPIC, TOPIC, AclOperation.WRITE);
            mustWork(produce(true), "idempotent produce");
            mustWork(produce(false), "produce");
        });
        kit.run("group-consume-without-group-read", () -> {
            grant(ResourceType.TOPIC, TOPIC, AclOperation.READ);
            mustWork(consume(null, 2), "consume (assigned)");
            mustFail(consume(GROUP, 2), GroupAuthorizationException.class, "group consume");
        });
        kit.run("group-consume-with-group-read", () -> {
            grant(ResourceType.GROUP, GROUP, AclOperation.READ);
            mustWork(consume(GROUP, 2), "group consume");
        });
        kit.run("describe-acls-with-cluster-describe", () -> {
            grant(ResourceType.CLUSTER, "kafka-cluster", AclOperation.DESCRIBE);
            mustWork(describeAcls(), "describeAcls");
        });
        adminMatrix(kit);
        kit.run("list-topics-filtered", () -> {
            try (Admin a = Admin.create(carol("acl-carol-admin"))) {
                java.util.Set<String> names = Kit.get(a.listTopics().names());
                Kit.check(names.contains(TOPIC) && !names.contains("denied"),
                        "carol lists %s: want %s and not denied (no Describe on it)", names, TOPIC);
            }
        });
        kit.run("revoke-applies-to-open-connection", () -> {
            ConfigResource topic = new ConfigResource(ConfigResource.Type.TOPIC, TOPIC);
            Call describe = a -> Kit.get(a.describeConfigs(List.of(topic)).all());
            try (Admin a = Admin.create(carol("acl-carol-admin"))) {
                mustWork(attempt(a, describe), "describeConfigs with DescribeConfigs");
                try (Admin su = admin()) {
                    Kit.get(su.deleteAcls(List.of(new AclBindingFilter(
                            new ResourcePatternFilter(ResourceType.TOPIC, TOPIC, PatternType.LITERAL),
                            // every op: AlterConfigs implies DescribeConfigs
                            new AccessControlEntryFilter("User:carol", "*", AclOperation.ANY,
                                    AclPermissionType.ALLOW)))).all());
                }
                Throwable[] last = new Throwable[1];
                Kit.waitFor("the revoked ACL to apply to carol's open connection",
                        () -> (last[0] = attempt(a, describe)) != null);
                expect(last[0], TopicAuthorizationException.class, "describeConfigs after the revoke");
            }
        });
        kit.run("init-transactions", () -> {
            String id = Kit.unique("acl-txn");
            mustFail(initTransactions(id), TransactionalIdAuthorizationException.class, "initTransactions");
            grant(ResourceType.TRANSACTIONAL_ID, id, AclOperation.WRITE);
            mustWork(initTransactions(id), "initTransactions with Write on the transactional id");
        });
        kit.finish();
    }
}
