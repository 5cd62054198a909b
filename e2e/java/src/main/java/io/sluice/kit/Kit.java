package io.sluice.kit;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;

/**
 * Kit runs one test program's cases in one JVM against the broker named on
 * the command line, printing one line per case:
 *
 * <pre>
 *   ok NAME (MS ms)
 *   FAIL NAME: REASON
 * </pre>
 *
 * and a last line "done: N ok, M failed"; the JVM exits 1 if any case
 * failed. e2e/java_test.go reads these lines; a case name may be listed
 * there as a known difference from Apache Kafka.
 */
public final class Kit {
    /** Bounds one client call (an Admin future, a poll loop). */
    public static final Duration TIMEOUT = Duration.ofSeconds(30);

    /** A case body; any Throwable fails the case. */
    public interface Case {
        void run() throws Exception;
    }

    public final String bootstrap;
    private final List<String> only;
    private int ok, failed;

    private Kit(String bootstrap, List<String> only) {
        this.bootstrap = bootstrap;
        this.only = only;
    }

    /** Parses "BOOTSTRAP [CASE…]": the cases named, or all when none is. */
    public static Kit fromArgs(String program, String[] args) {
        if (args.length < 1) {
            System.err.println("usage: " + program + " host:port [case…]");
            System.exit(2);
        }
        List<String> only = new ArrayList<>();
        for (int i = 1; i < args.length; i++) {
            only.add(args[i]);
        }
        return new Kit(args[0], only);
    }

    /** Runs one case and prints its line. */
    public void run(String name, Case c) {
        if (!only.isEmpty() && !only.contains(name)) {
            return;
        }
        long t0 = System.nanoTime();
        try {
            c.run();
            ok++;
            System.out.printf("ok %s (%d ms)%n", name, (System.nanoTime() - t0) / 1_000_000);
        } catch (Throwable e) {
            failed++;
            System.out.printf("FAIL %s: %s%n", name, describe(e));
        }
        System.out.flush();
    }

    /** Prints the summary line and exits: 0 when every case passed. */
    public void finish() {
        System.out.printf("done: %d ok, %d failed%n", ok, failed);
        System.out.flush();
        System.exit(failed == 0 ? 0 : 1);
    }

    /** One line: the exception chain, innermost cause last, and where it was thrown. */
    static String describe(Throwable e) {
        StringBuilder sb = new StringBuilder();
        for (Throwable c = e; c != null; c = c.getCause()) {
            if (c instanceof ExecutionException && c.getCause() != null) {
                continue;
            }
            if (sb.length() > 0) {
                sb.append(" <- ");
            }
            sb.append(c.getClass().getSimpleName()).append(": ").append(c.getMessage());
        }
        StackTraceElement[] st = e.getStackTrace();
        for (StackTraceElement el : st) {
            if (el.getClassName().startsWith("io.sluice.kit.")) {
                sb.append(" [at ").append(el.getFileName()).append(':').append(el.getLineNumber()).append(']');
                break;
            }
        }
        return sb.toString().replace('\n', ' ');
    }

    /** Fails the case with msg unless cond holds. */
    public static void check(boolean cond, String msg, Object... args) {
        if (!cond) {
            throw new AssertionError(String.format(msg, args));
        }
    }

    /** Fails unless want equals got. */
    public static void eq(Object want, Object got, String what) {
        if (want == null ? got != null : !want.equals(got)) {
            throw new AssertionError(what + ": got " + got + ", want " + want);
        }
    }

    /** Waits for a future within TIMEOUT. */
    public static <T> T get(Future<T> f) throws Exception {
        return f.get(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
    }

    /** Requires f to fail with an exception of type want (as its cause). */
    public static void expectError(Future<?> f, Class<? extends Throwable> want, String what) throws Exception {
        try {
            f.get(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            if (want.isInstance(e.getCause())) {
                return;
            }
            throw new AssertionError(what + ": got " + describe(e.getCause()) + ", want " + want.getSimpleName());
        }
        throw new AssertionError(what + ": succeeded, want " + want.getSimpleName());
    }

    /** Polls cond every 20 ms until it holds or TIMEOUT passes. */
    public static void waitFor(String what, BooleanSupplier cond) throws InterruptedException {
        long deadline = System.nanoTime() + TIMEOUT.toNanos();
        while (!cond.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out after " + TIMEOUT + " waiting for " + what);
            }
            Thread.sleep(20);
        }
    }

    /**
     * Common client properties: the bootstrap address and generous timeouts,
     * plus those of the file named by $SLUICE_KIT_CLIENT_PROPERTIES when set
     * (security.protocol, ssl.* … for a TLS or SASL listener).
     */
    public Properties props(String clientId) {
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        p.put("client.id", clientId);
        p.put("request.timeout.ms", "30000");
        String extra = System.getenv("SLUICE_KIT_CLIENT_PROPERTIES");
        if (extra != null && !extra.isEmpty()) {
            try (java.io.Reader r = java.nio.file.Files.newBufferedReader(java.nio.file.Path.of(extra))) {
                p.load(r);
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        }
        return p;
    }

    public Admin admin() {
        Properties p = props("kit-admin");
        p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "30000");
        return Admin.create(p);
    }

    /** Creates topic (replication factor 1) with configs. */
    public static void createTopic(Admin admin, String topic, int partitions, Map<String, String> configs)
            throws Exception {
        get(admin.createTopics(List.of(new NewTopic(topic, partitions, (short) 1).configs(configs))).all());
    }

    /** A unique suffix for names, so reruns on one broker do not collide. */
    public static String unique(String base) {
        return base + "-" + Long.toString(System.nanoTime() % 1_000_000_000L, 36);
    }
}
