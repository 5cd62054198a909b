package io.sluice.kit;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.lang.reflect.InvocationTargetException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.locks.LockSupport;

import org.apache.kafka.common.utils.Exit;

/**
 * ToolBatch runs several of Kafka's command-line tools (their main classes,
 * with the arguments the kafka-*.sh scripts pass on) one after the other in
 * one JVM, so a batch pays for one JVM start instead of one per tool.
 *
 * <p>Each line of the batch file (the only argument) is one invocation,
 * fields separated by tabs:
 *
 * <pre>
 *   NAME  STDIN  MAIN-CLASS  ARG…
 * </pre>
 *
 * STDIN is a file given to the tool as System.in, or "-" for none. For each
 * invocation ToolBatch prints
 *
 * <pre>
 *   === begin NAME
 *   …what the tool wrote to System.out…
 *   === stderr NAME
 *   …what it wrote to System.err…
 *   === end NAME exit=CODE ms=MILLIS
 * </pre>
 *
 * Each tool runs on a thread of its own. The tools end through
 * org.apache.kafka.common.utils.Exit, whose procedure is replaced by one that
 * records the code and parks that thread for good, as a real exit would stop
 * it (throwing instead would run the tool's catch blocks and change the
 * code). CODE is that code, 0 when main returns, 1 for an uncaught exception
 * (as the JVM does), or "timeout" when the tool neither exits nor returns
 * within the limit (the batch then goes on with the next tool). Shutdown
 * hooks a tool registers through Exit (ConsoleProducer closes, and so
 * flushes, its producer in one) run when it ends, as the JVM would run them.
 * System.out and System.err are swapped for switchable streams before any
 * tool class loads, so Scala's Console (which captures System.out once) is
 * redirected too.
 */
public final class ToolBatch {
    /** Per-invocation time limit. */
    private static final long LIMIT_SECONDS = 120;

    /** Completed with the exit code of the tool running now. */
    private static volatile CompletableFuture<Integer> current;

    /** Shutdown hooks the tool running now registered. */
    private static final List<Thread> hooks = new CopyOnWriteArrayList<>();

    /** An OutputStream whose target can be changed between invocations. */
    static final class Switch extends OutputStream {
        volatile OutputStream target;

        Switch(OutputStream target) {
            this.target = target;
        }

        @Override
        public void write(int b) throws IOException {
            target.write(b);
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            target.write(b, off, len);
        }

        @Override
        public void flush() throws IOException {
            target.flush();
        }
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 1) {
            System.err.println("usage: ToolBatch BATCH-FILE");
            System.exit(2);
        }
        List<String> lines = Files.readAllLines(Path.of(args[0]), StandardCharsets.UTF_8);
        PrintStream real = System.out;
        Switch out = new Switch(real), err = new Switch(System.err);
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
        Exit.setExitProcedure(ToolBatch::exit);
        Exit.setHaltProcedure(ToolBatch::exit);
        Exit.setShutdownHookAdder((name, hook) -> hooks.add(new Thread(hook, name)));
        for (String line : lines) {
            if (line.isBlank()) {
                continue;
            }
            String[] f = line.split("\t", -1);
            if (f.length < 3) {
                real.println("=== bad batch line: " + line);
                System.exit(2);
            }
            ByteArrayOutputStream o = new ByteArrayOutputStream(), e = new ByteArrayOutputStream();
            out.target = o;
            err.target = e;
            long t0 = System.nanoTime();
            String code;
            try (InputStream in = f[1].equals("-") ? new ByteArrayInputStream(new byte[0]) : new FileInputStream(f[1])) {
                System.setIn(in);
                code = invoke(f[0], f[2], Arrays.copyOfRange(f, 3, f.length));
            }
            System.out.flush();
            System.err.flush();
            out.target = real;
            err.target = real;
            long ms = (System.nanoTime() - t0) / 1_000_000;
            real.println("=== begin " + f[0]);
            real.print(o.toString(StandardCharsets.UTF_8));
            real.println("=== stderr " + f[0]);
            real.print(e.toString(StandardCharsets.UTF_8));
            real.println("=== end " + f[0] + " exit=" + code + " ms=" + ms);
            real.flush();
        }
        System.exit(0);
    }

    /** The replaced Exit procedure: records code, then never returns. */
    static void exit(int code, String msg) {
        if (msg != null) {
            System.err.println(msg);
        }
        current.complete(code);
        while (true) {
            LockSupport.park();
        }
    }

    /** Runs mainClass.main(args) on a thread and returns the code it ended with. */
    static String invoke(String name, String mainClass, String[] args) throws InterruptedException {
        CompletableFuture<Integer> done = new CompletableFuture<>();
        current = done;
        Thread t = new Thread(() -> {
            try {
                Class.forName(mainClass).getMethod("main", String[].class).invoke(null, (Object) args);
                done.complete(0);
            } catch (InvocationTargetException ite) {
                ite.getCause().printStackTrace();
                done.complete(1);
            } catch (Throwable e) {
                e.printStackTrace();
                done.complete(1);
            }
        }, "tool-" + name);
        t.setDaemon(true);
        t.start();
        String code;
        try {
            code = Integer.toString(done.get(LIMIT_SECONDS, TimeUnit.SECONDS));
        } catch (TimeoutException e) {
            code = "timeout";
        } catch (ExecutionException e) {
            code = "1";
        }
        runHooks();
        return code;
    }

    /** Runs the registered shutdown hooks concurrently, as the JVM does, and forgets them. */
    static void runHooks() throws InterruptedException {
        List<Thread> hs = List.copyOf(hooks);
        hooks.clear();
        for (Thread h : hs) {
            h.setDaemon(true);
            h.start();
        }
        for (Thread h : hs) {
            h.join(TimeUnit.SECONDS.toMillis(LIMIT_SECONDS));
            if (h.isAlive()) {
                System.err.println("ToolBatch: shutdown hook " + h.getName() + " still running after " + LIMIT_SECONDS + " s");
            }
        }
    }
}
