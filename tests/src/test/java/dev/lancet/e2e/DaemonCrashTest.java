package dev.lancet.e2e;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lancet.cli.Lancet;
import dev.lancet.engine.Fixtures;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Real daemon processes killed with SIGKILL at random moments, restarted on the same state directory: every job
 * accepted before resumes from its last completed shot and ends with the bytes `lancet prune` writes, and every
 * accepted add-data batch counts once.
 */
class DaemonCrashTest {

    @TempDir
    Path tmp;

    @Test
    void killedDaemonsResumeEveryJobToTheBytesOfLancetPrune() throws Exception {
        Path root = Files.createDirectories(tmp.resolve("root"));
        Path model = root.resolve("model");
        assertEquals(0, Lancet.run("synth", "--arch", "llama", "--hidden", "48", "--layers", "2", "--heads", "6",
                "--intermediate", "64", "--vocab", "4096", "--max-positions", "64", "--dtype", "F32", "--seed", "3",
                "--out", model.toString()));
        Files.copy(Fixtures.tinyLlama().resolve("tokenizer.json"), model.resolve("tokenizer.json"));
        Path eval = root.resolve("eval.txt");
        Files.writeString(eval, Files.readString(Fixtures.validText()).substring(0, 3000));
        List<String> job = List.of("--model", model.toString(), "--method", "magnitude", "--structure", "unstructured",
                "--target", "0.5", "--shots", "4", "--calibration", eval.toString(), "--samples", "4", "--seqlen", "32",
                "--eval", eval.toString(),
                "--eval-seqlen", "32", "--eval-windows", "2");
        Path reference = tmp.resolve("reference");
        assertEquals(0, Lancet.run(args(List.of("prune", "--out", reference.toString()), job)));

        Path state = tmp.resolve("state");
        Path log = tmp.resolve("daemon.log");
        Random random = new Random(20);
        LancetProcess daemon = LancetProcess.daemon(state, root, log);
        try {
            for (String out : List.of("a", "b")) {
                assertEquals(0, client(daemon, args(List.of("submit", "--out", root.resolve(out).toString()), job)));
            }
            assertEquals(0, addData(daemon, model, eval));
            for (int kill = 0; kill < 2; kill++) {
                Thread.sleep(500 + random.nextInt(4000));
                daemon.kill9();
                daemon = LancetProcess.daemon(state, root, log);
            }
            assertEquals(0, client(daemon, "wait", "job-1"));
            assertEquals(0, client(daemon, "wait", "job-2"));
            byte[] want = Files.readAllBytes(reference.resolve("model.safetensors"));
            assertArrayEquals(want, Files.readAllBytes(root.resolve("a/model.safetensors")));
            assertArrayEquals(want, Files.readAllBytes(root.resolve("b/model.safetensors")));
            // the batch accepted before the kills counts once: the next one is the second
            assertEquals(0, addData(daemon, model, eval));
            Path curvature;
            try (Stream<Path> models = Files.list(state.resolve("models"))) {
                curvature = models.findFirst().orElseThrow();
            }
            assertTrue(Files.isDirectory(curvature.resolve("batch-2")));
            assertFalse(Files.exists(curvature.resolve("batch-3")));
            assertTrue(daemon.terminate(60), "SIGTERM stops the daemon");
        } finally {
            daemon.close();
        }
    }

    private static int addData(LancetProcess daemon, Path model, Path data) {
        return client(daemon, "add-data", "--model", model.toString(), "--calibration", data.toString(),
                "--samples", "2", "--seqlen", "32");
    }

    private static int client(LancetProcess daemon, String... args) {
        return Lancet.run(Stream.concat(Stream.of("client", "--server", daemon.address()), Stream.of(args))
                .toArray(String[]::new));
    }

    private static String[] args(List<String> first, List<String> rest) {
        return Stream.concat(first.stream(), rest.stream()).toArray(String[]::new);
    }
}
