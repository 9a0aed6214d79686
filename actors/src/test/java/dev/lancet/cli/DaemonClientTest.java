package dev.lancet.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.typesafe.config.ConfigFactory;
import dev.lancet.daemon.Daemon;
import dev.lancet.engine.Fixtures;
import dev.lancet.engine.model.Checkpoint;
import dev.lancet.engine.text.Tokenizer;
import dev.lancet.engine.text.Windows;
import java.io.IOException;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * The daemon driven by {@code lancet client}, both in this JVM: validation (every refusal is a status and a reason,
 * exit 2, nothing written, and the daemon serves on), bearer tokens, the bounded queue, cancelling, garbage on the
 * port, and incremental curvature: add-data A, add-data B, re-prune equals a job calibrated on A and B at once.
 */
class DaemonClientTest {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final com.typesafe.config.Config SERIALIZING = ConfigFactory.parseString(
            "pekko.actor.serialize-messages = on").withFallback(ConfigFactory.load());

    @TempDir
    static Path tmp;
    static Path root;
    static Path model;
    static Path eval;
    static Daemon daemon;

    /** A 2-block, 48-wide Llama with the embedded tokenizer, and a short evaluation text, under the daemon's root. */
    @BeforeAll
    static void start() throws Exception {
        root = Files.createDirectories(tmp.resolve("root"));
        model = root.resolve("model");
        assertEquals(0, CliRun.of("synth", "--arch", "llama", "--hidden", "48", "--layers", "2", "--heads", "6",
                "--intermediate", "64", "--vocab", "4096", "--max-positions", "64", "--dtype", "F32", "--seed", "3",
                "--out", model.toString()).exitCode());
        Files.copy(Fixtures.tinyLlama().resolve("tokenizer.json"), model.resolve("tokenizer.json"));
        eval = root.resolve("eval.txt");
        Files.writeString(eval, Files.readString(Fixtures.validText()).substring(0, 3000));
        daemon = start(tmp.resolve("state"), "", null);
    }

    /** A daemon whose actor messages all go through their wire form (the job queue's protobuf messages). */
    private static Daemon start(Path state, String config, Path tokenFile) throws IOException {
        return Daemon.start(new Daemon.Options("127.0.0.1", 0, state, List.of(root), tokenFile, null, null),
                ConfigFactory.parseString(config).withFallback(SERIALIZING), PruneOptions::specOf);
    }

    @AfterAll
    static void stop() throws InterruptedException {
        daemon.close();
    }

    private static CliRun client(Daemon to, String... args) {
        return CliRun.of(Stream.concat(Stream.of("client", "--server", "127.0.0.1:" + to.port()), Stream.of(args))
                .toArray(String[]::new));
    }

    /** A small job's flags (1 shot on the small model, 32-token windows), {@code more} flag-value pairs overriding them. */
    private static String[] job(Path out, String... more) {
        Map<String, List<String>> flags = new LinkedHashMap<>();
        flags.put("--model", List.of(model.toString()));
        flags.put("--calibration", List.of(eval.toString()));
        flags.put("--samples", List.of("4"));
        flags.put("--seqlen", List.of("32"));
        flags.put("--eval", List.of(eval.toString()));
        flags.put("--eval-seqlen", List.of("32"));
        flags.put("--eval-windows", List.of("2"));
        flags.put("--shots", List.of("1"));
        flags.put("--out", List.of(out.toString()));
        String flag = null;
        for (String arg : more) {
            if (arg.startsWith("--")) {
                flag = arg;
                flags.put(flag, new ArrayList<>());
            } else {
                flags.get(flag).add(arg);
            }
        }
        List<String> args = new ArrayList<>(List.of("submit", "--json"));
        flags.forEach((f, values) -> {
            args.add(f);
            args.addAll(values);
        });
        return args.toArray(String[]::new);
    }

    private static void assertRefused(Daemon to, String status, String reason, String... args) {
        CliRun run = client(to, args);
        String err = run.err().strip();
        assertEquals(Lancet.BAD_INPUT, run.exitCode(), String.join(" ", args) + ": " + err);
        assertFalse(err.contains("\n"), "one line: " + err);
        assertTrue(err.startsWith("lancet: " + status + ": "), String.join(" ", args) + " → " + err);
        assertTrue(err.contains(reason), "says '" + reason + "': " + err);
    }

    @Test
    void malformedRequestsAreRefusedWithTheirStatusWriteNothingAndTheDaemonServesOn() throws Exception {
        Path outside = Files.createDirectories(tmp.resolve("outside"));
        Files.createSymbolicLink(root.resolve("escape"), outside);
        Path out = root.resolve("refused");
        assertRefused(daemon, "INVALID_ARGUMENT", "target must be a fraction in (0, 1)", job(out, "--target", "1.5"));
        assertRefused(daemon, "INVALID_ARGUMENT", "at least 1 shot", job(out, "--shots", "0"));
        assertRefused(daemon, "INVALID_ARGUMENT", "--method must be one of", job(out, "--method", "obs"));
        assertRefused(daemon, "INVALID_ARGUMENT", "sparsegpt prunes single weights", job(out, "--method", "sparsegpt"));
        assertRefused(daemon, "INVALID_ARGUMENT", "exceed max_position_embeddings", job(out, "--seqlen", "100000"));
        assertRefused(daemon, "INVALID_ARGUMENT", "too large", job(out, "--samples", "2000000000"));
        assertRefused(daemon, "INVALID_ARGUMENT", "at least 2 tokens", job(out, "--eval-seqlen", "1"));
        assertRefused(daemon, "INVALID_ARGUMENT", "config.json", job(out, "--model", root.toString()));
        assertRefused(daemon, "NOT_FOUND", "does not exist", job(out, "--model", root.resolve("missing").toString()));
        assertRefused(daemon, "NOT_FOUND", "does not exist", job(out, "--calibration", "missing.txt"));
        assertRefused(daemon, "PERMISSION_DENIED", "outside the daemon's roots", job(out, "--model", "/etc"));
        assertRefused(daemon, "PERMISSION_DENIED", "outside", job(out, "--model", root + "/../outside"));
        assertRefused(daemon, "PERMISSION_DENIED", "outside", job(out, "--calibration", "/etc/passwd"));
        assertRefused(daemon, "PERMISSION_DENIED", "outside", job(out, "--eval", "escape/../../../etc/passwd"));
        Path escaped = root.resolve("escape/written");
        assertRefused(daemon, "PERMISSION_DENIED", "outside", job(escaped));
        assertRefused(daemon, "NOT_FOUND", "no job 'job-999'", "status", "job-999");
        assertRefused(daemon, "INVALID_ARGUMENT", "not a job id", "wait", "../../etc");
        assertRefused(daemon, "NOT_FOUND", "no job", "cancel", "job-12345");
        assertRefused(daemon, "NOT_FOUND", "no job", "reprune", "job-12345");
        assertRefused(daemon, "PERMISSION_DENIED", "outside", "add-data", "--model", model.toString(),
                "--calibration", "/etc/passwd");
        assertRefused(daemon, "INVALID_ARGUMENT", "samples must be >= 1", "add-data", "--model", model.toString(),
                "--calibration", eval.toString(), "--samples", "0");
        assertRefused(daemon, "INVALID_ARGUMENT", "sampling must be", "add-data", "--model", model.toString(),
                "--calibration", eval.toString(), "--sampling", "every-other");
        assertRefused(daemon, "INVALID_ARGUMENT", "at least 2 tokens", "add-data", "--model", model.toString(),
                "--calibration", eval.toString(), "--seqlen", "1");

        assertFalse(Files.exists(out));
        assertFalse(Files.exists(escaped));
        try (var left = Files.list(outside)) {
            assertEquals(0, left.count(), "nothing written through the link");
        }
        CliRun list = client(daemon, "list", "--json");
        assertEquals(0, list.exitCode(), list.err());
        assertTrue(JSON.readTree(list.lastLine()).get("jobs").findValues("out").stream()
                .noneMatch(o -> o.asText().contains("refused")), "no refused job was stored");
    }

    @Test
    void garbageOnThePortDoesNoHarm() throws Exception {
        Random random = new Random(7);
        for (String prefix : List.of("", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "GET / HTTP/1.1\r\nHost: x\r\n\r\n")) {
            byte[] noise = new byte[64 * 1024];
            random.nextBytes(noise);
            try (Socket socket = new Socket("127.0.0.1", daemon.port())) {
                OutputStream o = socket.getOutputStream();
                o.write(prefix.getBytes(StandardCharsets.US_ASCII));
                o.write(noise);
                o.flush();
            } catch (IOException ignored) {
                // the server may hang up on the garbage before it is all written: that is the point
            }
        }
        assertEquals(0, client(daemon, "list").exitCode());
    }

    /** A state directory written by a daemon of another format is refused at start, and left as it was. */
    @Test
    void aStateDirectoryOfAnotherFormatIsRefused() throws Exception {
        Path old = Files.createDirectories(tmp.resolve("old-state"));
        Files.writeString(old.resolve("FORMAT"), "lancet-daemon-state 1\n");
        var refused = assertThrows(IllegalArgumentException.class, () -> start(old, "", null));
        assertTrue(refused.getMessage().contains("another format (lancet-daemon-state 1)"), refused.getMessage());
        try (var left = Files.list(old)) {
            assertEquals(List.of(old.resolve("FORMAT")), left.toList(), "nothing written");
        }
        assertEquals("lancet-daemon-state 1\n", Files.readString(old.resolve("FORMAT")));
    }

    @Test
    void everyCallNeedsTheBearerTokenWhenTheDaemonHasOne() throws Exception {
        Path token = tmp.resolve("token");
        Files.writeString(token, "s3cret-token\n");
        Path wrong = tmp.resolve("wrong");
        Files.writeString(wrong, "s3cret-tokem\n");
        var refused = assertThrows(IllegalArgumentException.class, () -> Daemon.start(new Daemon.Options("0.0.0.0", 0,
                tmp.resolve("open-state"), List.of(root), null, null, null), SERIALIZING, PruneOptions::specOf));
        assertTrue(refused.getMessage().contains("--token-file"), refused.getMessage());

        // a budget no job fits: the token is checked first, then the estimate
        try (Daemon guarded = start(tmp.resolve("token-state"), "lancet.daemon.memory-budget = 1k", token)) {
            assertRefused(guarded, "UNAUTHENTICATED", "bearer token", "list");
            assertRefused(guarded, "UNAUTHENTICATED", "bearer token", "--token-file", wrong.toString(), "list");
            assertEquals(0, client(guarded, "--token-file", token.toString(), "list").exitCode());
            assertRefused(guarded, "RESOURCE_EXHAUSTED", "memory budget",
                    Stream.concat(Stream.of("--token-file", token.toString()),
                            Stream.of(job(root.resolve("too-big")))).toArray(String[]::new));
            assertFalse(Files.exists(root.resolve("too-big")));
        }
    }

    @Test
    void tlsServesTheSameCalls() throws Exception {
        Path cert = Path.of(DaemonClientTest.class.getResource("/daemon-tls/cert.pem").toURI());
        Path key = Path.of(DaemonClientTest.class.getResource("/daemon-tls/key.pem").toURI());
        try (Daemon tls = Daemon.start(new Daemon.Options("127.0.0.1", 0, tmp.resolve("tls-state"), List.of(root), null,
                cert, key), SERIALIZING, PruneOptions::specOf)) {
            CliRun list = client(tls, "--tls-cert", cert.toString(), "list", "--json");
            assertEquals(0, list.exitCode(), list.err());
            assertEquals("{\"jobs\":[]}", list.lastLine());
            assertEquals(1, client(tls, "list").exitCode(), "a plaintext client gets no answer");
        }
    }

    /** SliceGPT through the daemon: the bytes {@code lancet prune --method slicegpt} writes; refused with a reason. */
    @Test
    void slicegptJobsEndAsLancetPruneEndsThem() throws Exception {
        Path direct = root.resolve("sliced-direct");
        String[] request = job(root.resolve("sliced"), "--method", "slicegpt", "--target", "0.25");
        String[] local = job(direct, "--method", "slicegpt", "--target", "0.25");
        local[0] = "prune";
        CliRun pruned = CliRun.of(local);
        assertEquals(0, pruned.exitCode(), pruned.err());

        CliRun submitted = client(daemon, request);
        assertEquals(0, submitted.exitCode(), submitted.err());
        String job = JSON.readTree(submitted.lastLine()).get("job").asText();
        CliRun done = client(daemon, "wait", job, "--json");
        assertEquals(0, done.exitCode(), done.out());
        JsonNode status = JSON.readTree(done.lastLine());
        assertEquals(1, status.get("shots_done").asInt());
        Path sliced = Path.of(status.get("out").asText());
        for (String file : List.of("model.safetensors", "config.json")) {
            assertEquals(-1L, Files.mismatch(direct.resolve(file), sliced.resolve(file)), file);
        }
        assertEquals(JSON.readTree(pruned.lastLine()).get("perplexity").asDouble(), status.get("perplexity").asDouble());

        assertRefused(daemon, "INVALID_ARGUMENT", "slicegpt job", "reprune", job);
        Path refused = root.resolve("sliced-refused");
        assertRefused(daemon, "INVALID_ARGUMENT", "--target 0.95 leaves",
                job(refused, "--method", "slicegpt", "--target", "0.95"));
        assertFalse(Files.exists(refused));
    }

    @Test
    void theQueueIsBoundedAndJobsCancel() throws Exception {
        try (Daemon small = start(tmp.resolve("queue-state"), "lancet.daemon.queue-size = 1", null)) {
            // long enough to still run while the others are submitted: 8 shots
            String[] slow = job(root.resolve("q1"), "--shots", "8");
            assertEquals("job-1", JSON.readTree(client(small, slow).lastLine()).get("job").asText());
            assertEquals("QUEUED", JSON.readTree(client(small, job(root.resolve("q2"))).lastLine()).get("state").asText());
            assertRefused(small, "RESOURCE_EXHAUSTED", "queue is full", job(root.resolve("q3")));
            assertFalse(Files.exists(root.resolve("q3")));
            assertRefused(small, "INVALID_ARGUMENT", "output directory of job-1", job(root.resolve("q1")));

            assertEquals(0, client(small, "cancel", "job-2").exitCode());
            assertEquals(0, client(small, "cancel", "job-1").exitCode());
            CliRun waited = client(small, "wait", "job-1", "--json");
            assertEquals(1, waited.exitCode(), waited.out());
            assertEquals("CANCELLED", JSON.readTree(waited.lastLine()).get("state").asText());
            assertEquals("CANCELLED", JSON.readTree(client(small, "status", "job-2", "--json").lastLine())
                    .get("state").asText());
            // the slot is free again
            String next = JSON.readTree(client(small, job(root.resolve("q4"))).lastLine()).get("job").asText();
            assertEquals(0, client(small, "cancel", next).exitCode());
        }
    }

    /**
     * add-data A, add-data B, re-prune a job calibrated on other text: the re-prune must equal a job calibrated on A and
     * B together (sequential windows: all of A, then B's first ones), its first shot on the stored curvature and its
     * second on the stored windows.
     */
    @Test
    void repruneOnDataAddedInTwoBatchesEqualsAJobCalibratedOnBothAtOnce() throws Exception {
        String text = Files.readString(Fixtures.calibrationText());
        Path a = root.resolve("a.txt");
        Path b = root.resolve("b.txt");
        Files.writeString(a, text.substring(0, 2500));
        Files.writeString(b, text.substring(2500, 6000));
        int windowsOfA;
        try (Checkpoint checkpoint = Checkpoint.open(model); Tokenizer tokenizer = Tokenizer.load(checkpoint.tokenizerFile())) {
            windowsOfA = Windows.read(tokenizer, a, 32, 0).count();
        }
        int fromB = 3;
        Path scratch = root.resolve("scratch");
        CliRun fromScratch = client(daemon, job(scratch, "--calibration", a.toString(), b.toString(), "--samples",
                Integer.toString(windowsOfA + fromB), "--sampling", "sequential", "--target", "0.3", "--shots", "2"));
        String onBoth = JSON.readTree(fromScratch.lastLine()).get("job").asText();
        CliRun submitted = client(daemon, job(root.resolve("original"), "--target", "0.3", "--shots", "2"));
        String original = JSON.readTree(submitted.lastLine()).get("job").asText();

        assertRefused(daemon, "NOT_FOUND", "add-data first", "reprune", original);
        CliRun first = client(daemon, "add-data", "--model", model.toString(), "--calibration", a.toString(), "--samples",
                Integer.toString(windowsOfA), "--seqlen", "32", "--sampling", "sequential", "--json");
        assertEquals(0, first.exitCode(), first.err());
        CliRun second = client(daemon, "add-data", "--model", model.toString(), "--calibration", b.toString(),
                "--samples", Integer.toString(fromB), "--seqlen", "32", "--sampling", "sequential", "--json");
        JsonNode added = JSON.readTree(second.lastLine());
        assertEquals(2, added.get("version").asInt());
        assertEquals((long) fromB * 31, added.get("new_tokens").asLong(), "cost: only B's windows");
        assertEquals((long) (windowsOfA + fromB) * 31, added.get("tokens").asLong());

        CliRun reprune = client(daemon, "reprune", original, "--json");
        assertEquals(0, reprune.exitCode(), reprune.err());
        String again = JSON.readTree(reprune.lastLine()).get("job").asText();
        assertEquals(0, client(daemon, "wait", original).exitCode());
        assertEquals(0, client(daemon, "wait", onBoth).exitCode());
        CliRun watched = client(daemon, "watch", again, "--json");
        assertEquals(0, watched.exitCode(), watched.out());
        assertTrue(watched.out().contains(again + " DONE"), "watch streams until the end: " + watched.out());
        CliRun done = client(daemon, "wait", again, "--json");
        assertEquals(0, done.exitCode(), done.out());
        Path repruned = Path.of(JSON.readTree(done.lastLine()).get("out").asText());

        JsonNode want = JSON.readTree(scratch.resolve("pruning-report.json").toFile()).get("shots");
        JsonNode got = JSON.readTree(repruned.resolve("pruning-report.json").toFile()).get("shots");
        assertEquals(2, got.size());
        for (int shot = 0; shot < 2; shot++) {
            assertEquals(want.get(shot).get("blocks"), got.get(shot).get("blocks"), "shot " + (shot + 1)
                    + ": the same heads and channels removed");
        }
        JsonNode other = JSON.readTree(root.resolve("original").resolve("pruning-report.json").toFile()).get("shots");
        assertFalse(other.equals(got), "the original job, on other text, pruned otherwise");
        // the stored state is fp64 throughout; a job's own calibration folds fp32 blocks into fp64 sums
        try (Checkpoint w = Checkpoint.open(scratch); Checkpoint g = Checkpoint.open(repruned)) {
            for (var tensor : w.tensors()) {
                INDArray x = w.load(tensor.name(), DataType.DOUBLE, tensor.shape());
                INDArray y = g.load(tensor.name(), DataType.DOUBLE, tensor.shape());
                double scale = Math.max(x.norm2Number().doubleValue(), 1e-30);
                assertTrue(x.sub(y).norm2Number().doubleValue() <= 1e-4 * scale, tensor.name());
            }
        }
    }
}
