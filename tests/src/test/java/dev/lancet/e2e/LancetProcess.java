package dev.lancet.e2e;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** A `lancet daemon` or `lancet node` in a JVM of its own, as a user would run it, once it printed its ready line. */
final class LancetProcess implements AutoCloseable {

    private static final Pattern DAEMON_READY = Pattern.compile("^lancet daemon ready on (127\\.0\\.0\\.1:\\d+) ");
    private static final Pattern NODE_READY = Pattern.compile("^lancet node ready: (\\S+) ");

    private final Process process;
    private final String address;

    private LancetProcess(Process process, String address) {
        this.process = process;
        this.address = address;
    }

    /** A daemon on a free loopback port, on {@code state}, confined to {@code root}. */
    static LancetProcess daemon(Path state, Path root, Path log) throws IOException {
        return start(DAEMON_READY, log, "daemon", "--listen", "127.0.0.1:0", "--state", state.toString(), "--root",
                root.toString());
    }

    /** A worker member of the cluster {@code file} describes, on {@code port}, joining through {@code seed}. */
    static LancetProcess node(Path file, int port, String seed, Path log) throws IOException {
        return start(NODE_READY, log, "node", "--cluster", file.toString(), "--cluster-port", Integer.toString(port),
                "--seed-node", seed);
    }

    private static LancetProcess start(Pattern readyLine, Path log, String... args) throws IOException {
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xss16m", "-Xmx1g", "-Dorg.bytedeco.javacpp.maxphysicalbytes=3g", "-Dai.djl.offline=true",
                "-Dlancet.home=" + System.getProperty("lancet.home", "."), "-cp", System.getProperty("java.class.path"),
                "dev.lancet.cli.Lancet"));
        command.addAll(List.of(args));
        ProcessBuilder builder = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.appendTo(log.toFile()));
        builder.environment().put("OMP_WAIT_POLICY", "PASSIVE");
        builder.environment().put("OPENBLAS_THREAD_TIMEOUT", "4");
        Process process = builder.start();
        CompletableFuture<String> ready = new CompletableFuture<>();
        Thread reader = new Thread(() -> {
            try (BufferedReader out = new BufferedReader(new InputStreamReader(process.getInputStream(),
                    StandardCharsets.UTF_8))) {
                for (String line = out.readLine(); line != null; line = out.readLine()) {
                    Matcher m = readyLine.matcher(line);
                    if (m.find()) {
                        ready.complete(m.group(1));
                    }
                }
                ready.completeExceptionally(new IllegalStateException("lancet " + args[0] + " ended before it was ready"));
            } catch (IOException e) {
                ready.completeExceptionally(new UncheckedIOException(e));
            }
        }, "lancet-" + args[0] + "-stdout");
        reader.setDaemon(true);
        reader.start();
        try {
            return new LancetProcess(process, ready.get(120, TimeUnit.SECONDS));
        } catch (Exception e) {
            process.destroyForcibly();
            throw new IllegalStateException("lancet " + args[0] + " did not start: " + e.getMessage(), e);
        }
    }

    /** What the ready line announced: the daemon's HOST:PORT, or the node's pekko:// address. */
    String address() {
        return address;
    }

    /** SIGKILL: no shutdown hook, no flushing, whatever the process was doing. */
    void kill9() throws InterruptedException {
        process.destroyForcibly();
        process.waitFor(30, TimeUnit.SECONDS);
    }

    /** SIGTERM; true when the process ended within the time. */
    boolean terminate(long seconds) throws InterruptedException {
        process.destroy();
        return process.waitFor(seconds, TimeUnit.SECONDS);
    }

    @Override
    public void close() throws InterruptedException {
        if (process.isAlive()) {
            kill9();
        }
    }
}
