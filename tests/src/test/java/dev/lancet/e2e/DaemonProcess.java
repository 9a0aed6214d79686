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

/** A `lancet daemon` in a JVM of its own, on a free loopback port, as a user would run it. */
final class DaemonProcess implements AutoCloseable {

    private static final Pattern READY = Pattern.compile("^lancet daemon ready on 127\\.0\\.0\\.1:(\\d+) ");

    private final Process process;
    private final int port;

    private DaemonProcess(Process process, int port) {
        this.process = process;
        this.port = port;
    }

    /** Starts a daemon on {@code state} confined to {@code root}; returns once it has printed its ready line. */
    static DaemonProcess start(Path state, Path root, Path log) throws IOException {
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xss16m", "-Xmx1g", "-Dorg.bytedeco.javacpp.maxphysicalbytes=3g", "-Dai.djl.offline=true",
                "-Dlancet.home=" + System.getProperty("lancet.home", "."), "-cp", System.getProperty("java.class.path"),
                "dev.lancet.cli.Lancet", "daemon", "--listen", "127.0.0.1:0", "--state", state.toString(),
                "--root", root.toString()));
        ProcessBuilder builder = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.appendTo(log.toFile()));
        builder.environment().put("OMP_WAIT_POLICY", "PASSIVE");
        builder.environment().put("OPENBLAS_THREAD_TIMEOUT", "4");
        Process process = builder.start();
        CompletableFuture<Integer> ready = new CompletableFuture<>();
        Thread reader = new Thread(() -> {
            try (BufferedReader out = new BufferedReader(new InputStreamReader(process.getInputStream(),
                    StandardCharsets.UTF_8))) {
                for (String line = out.readLine(); line != null; line = out.readLine()) {
                    Matcher m = READY.matcher(line);
                    if (m.find()) {
                        ready.complete(Integer.parseInt(m.group(1)));
                    }
                }
                ready.completeExceptionally(new IllegalStateException("the daemon ended before it was ready"));
            } catch (IOException e) {
                ready.completeExceptionally(new UncheckedIOException(e));
            }
        }, "daemon-stdout");
        reader.setDaemon(true);
        reader.start();
        try {
            return new DaemonProcess(process, ready.get(120, TimeUnit.SECONDS));
        } catch (Exception e) {
            process.destroyForcibly();
            throw new IllegalStateException("daemon did not start: " + e.getMessage(), e);
        }
    }

    String address() {
        return "127.0.0.1:" + port;
    }

    /** SIGKILL: no shutdown hook, no flushing, whatever the daemon was doing. */
    void kill9() throws InterruptedException {
        process.destroyForcibly();
        process.waitFor(30, TimeUnit.SECONDS);
    }

    /** SIGTERM; true when the daemon ended within the time. */
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
