package dev.lancet.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.lancet.engine.Fixtures;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code lancet prune --method slicegpt}: a run whose output every command loads (eval, and prune again on the sliced
 * model), deterministic and resumable, and its bad input refused with one line and nothing written.
 */
class SliceCommandTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path tmp;

    private CliRun slice(Path model, Path out, String... flags) throws IOException {
        return CliRun.of(Stream.concat(Stream.of("prune", "--method", "slicegpt", "--model", model.toString(),
                "--out", out.toString(), "--samples", "8", "--eval", shortEval().toString(), "--json"),
                Stream.of(flags)).toArray(String[]::new));
    }

    private Path shortEval() throws IOException {
        Path eval = tmp.resolve("eval.txt");
        if (!Files.exists(eval)) {
            Files.writeString(eval, Files.readString(Fixtures.validText()).substring(0, 12_000));
        }
        return eval;
    }

    @Test
    void slicedModelLoadsEverywhereAndRunsAreDeterministicAndResumable() throws IOException {
        Path out = tmp.resolve("sliced");
        CliRun run = slice(Fixtures.tinyLlama(), out, "--target", "0.25");
        assertEquals(0, run.exitCode(), run.err());
        JsonNode result = JSON.readTree(run.lastLine());
        // 4 blocks of 144-wide shortcuts (the last MLP's 144 × 192) and every linear narrowed to 144 inputs/outputs
        assertEquals(2_900_736, result.get("params_after").asLong());
        JsonNode report = JSON.readTree(out.resolve("pruning-report.json").toFile());
        assertEquals(144, report.get("width").asInt());
        assertTrue(Files.size(out.resolve("pruning.png")) > 1000);

        CliRun eval = CliRun.of("eval", "--model", out.toString(), "--data", shortEval().toString(), "--json");
        assertEquals(0, eval.exitCode(), eval.err());
        assertEquals(result.get("perplexity").asDouble(), JSON.readTree(eval.lastLine()).get("perplexity").asDouble(),
                1e-5 * result.get("perplexity").asDouble());

        Path again = tmp.resolve("again");
        assertEquals(0, slice(Fixtures.tinyLlama(), again, "--target", "0.25").exitCode());
        assertArrayEquals(Files.readAllBytes(out.resolve("model.safetensors")),
                Files.readAllBytes(again.resolve("model.safetensors")));
        CliRun resumed = slice(Fixtures.tinyLlama(), out, "--target", "0.25", "--resume");
        assertEquals(0, resumed.exitCode(), resumed.err());
        assertEquals(result.get("perplexity").asDouble(), JSON.readTree(resumed.lastLine()).get("perplexity").asDouble());

        // LLM Surgeon on the sliced model: curvature and structured removal through its shortcut blocks
        Path surgeon = tmp.resolve("surgeon");
        CliRun pruned = CliRun.of("prune", "--model", out.toString(), "--out", surgeon.toString(), "--shots", "1",
                "--target", "0.1", "--samples", "8", "--eval", shortEval().toString(), "--json");
        assertEquals(0, pruned.exitCode(), pruned.err());
        assertTrue(JSON.readTree(pruned.lastLine()).get("params_after").asLong() < result.get("params_after").asLong());

        assertRefused(out, "already sliced to a width of 144", "--target", "0.1");
    }

    @Test
    void badInputIsRefusedAndWritesNothing() throws IOException {
        assertRefused(Fixtures.tinyLlama(), "leaves 0 of 192 residual features", "--target", "0.99");
        Path postNorm = tmp.resolve("post-norm");
        assertEquals(0, CliRun.of("synth", "--arch", "opt", "--hidden", "32", "--layers", "1", "--heads", "4",
                "--intermediate", "64", "--post-norm", "--vocab", "4096", "--out", postNorm.toString()).exitCode());
        Files.copy(Fixtures.tinyOpt().resolve("tokenizer.json"), postNorm.resolve("tokenizer.json"));
        assertRefused(postNorm, "post-norm", "--target", "0.25");
    }

    private void assertRefused(Path model, String problem, String... flags) throws IOException {
        Path out = tmp.resolve("refused");
        CliRun run = slice(model, out, flags);
        assertEquals(Lancet.BAD_INPUT, run.exitCode(), run.err());
        String err = run.err().strip();
        assertFalse(err.contains("\n"), "one line expected, got:\n" + err);
        assertTrue(err.contains(problem), "says '" + problem + "': " + err);
        assertFalse(Files.exists(out), "nothing written for " + String.join(" ", flags));
    }
}
