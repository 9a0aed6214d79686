package dev.lancet.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.lancet.engine.Fixtures;
import dev.lancet.engine.model.Checkpoint;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code lancet prune} from the command line: job files, bad input refused before anything is written, and
 * LLM-Pruner end to end on a GQA model.
 */
class PruneCommandTest {

    @TempDir
    Path tmp;

    private CliRun prune(Path out, String... flags) {
        return CliRun.of(Stream.concat(Stream.of("prune", "--out", out.toString()), Stream.of(flags))
                .toArray(String[]::new));
    }

    private void assertRefused(String problem, String... flags) {
        Path out = tmp.resolve("refused");
        CliRun.assertRefused(out, problem, Stream.concat(Stream.of("prune", "--out", out.toString()), Stream.of(flags))
                .toArray(String[]::new));
    }

    @Test
    void badInputIsRefusedAndWritesNothing() throws IOException {
        assertRefused("target must be a fraction in (0, 1), got 1.0", "--target", "1");
        assertRefused("target must be a fraction in (0, 1), got 0.0", "--target", "0");
        assertRefused("at least 1 shot is needed, got 0", "--shots", "0");
        assertRefused("--method must be one of surgeon, k-obd, magnitude, sparsegpt, llm-pruner, slicegpt, got 'obs'",
                "--method", "obs");
        assertRefused("--structure must be one of groups, rows-cols, 2:4, unstructured, got 'heads'",
                "--structure", "heads");
        assertRefused("sparsegpt prunes single weights: use it with 2:4 or unstructured, not groups",
                "--method", "sparsegpt");
        assertRefused("--schedule must be one of linear, cosine", "--schedule", "step");
        Path empty = tmp.resolve("empty.txt");
        Files.writeString(empty, "");
        assertRefused("empty.txt", "--calibration", empty.toString());
        Path odd = tmp.resolve("odd");
        assertEquals(0, CliRun.of("synth", "--arch", "llama", "--hidden", "50", "--layers", "1", "--heads", "5",
                "--intermediate", "64", "--out", odd.toString()).exitCode());
        Files.copy(Fixtures.tinyLlama().resolve("tokenizer.json"), odd.resolve("tokenizer.json"));
        assertRefused("2:4 needs input widths that are multiples of 4; model.layers.0.self_attn.q_proj has 50 inputs",
                "--model", odd.toString(), "--structure", "2:4");
        assertRefused("job file not found", "--job", tmp.resolve("missing.conf").toString());
        assertRefused("--lora-between-shots must be >= 0 (0: none), got -1", "--lora-between-shots", "-1");
        assertRefused("the learning rate must be positive, got 0.0", "--lora-between-shots", "5", "--lora-lr", "0");
    }

    /** Every example job parses into valid flags (a zero shot count, given last, stops it before any work). */
    @Test
    void exampleJobFilesParse() throws IOException {
        try (Stream<Path> jobs = Files.list(Fixtures.repoRoot().resolve("conf/jobs"))) {
            for (Path job : (Iterable<Path>) jobs::iterator) {
                assertRefused("at least 1 shot is needed, got 0", "--job", job.toString(), "--shots", "0");
            }
        }
    }

    @Test
    void jobFileSuppliesFlagsThatTheCommandLineOverrides() throws IOException {
        Path eval = tmp.resolve("eval.txt");
        Files.writeString(eval, Files.readString(Fixtures.validText()).substring(0, 6_000));
        Path job = tmp.resolve("job.conf");
        Files.writeString(job, """
                # a HOCON recipe: keys are flag names without dashes
                method = magnitude
                structure = unstructured
                target = 0.9
                shots = 1
                eval = "%s"
                eval-seqlen = 64
                """.formatted(eval.toString().replace("\\", "\\\\")));
        Path out = tmp.resolve("job-out");
        CliRun run = prune(out, "--job", job.toString(), "--target", "0.2", "--json");
        assertEquals(0, run.exitCode(), run.err());
        JsonNode report = new ObjectMapper().readTree(out.resolve("pruning-report.json").toFile());
        assertEquals("MAGNITUDE", report.get("job").get("method").asText());
        assertEquals(0.2, report.get("job").get("target").asDouble(), 0.0);
        assertEquals(64, report.get("job").get("eval_seqlen").asInt());
        JsonNode result = new ObjectMapper().readTree(run.lastLine());
        assertTrue(result.get("params_after").asLong() < result.get("params_before").asLong());
        assertTrue(Files.size(out.resolve("pruning.png")) > 1000);
    }

    /** Refused before the member starts: nothing joins a cluster, nothing is written. */
    @Test
    void badClusterFlagsAreRefusedAndWriteNothing() throws IOException {
        String cluster = Fixtures.repoRoot().resolve("conf/cluster.conf").toString();
        assertRefused("cluster configuration", "--cluster", tmp.resolve("missing.conf").toString());
        Path broken = Files.writeString(tmp.resolve("broken.conf"), "pekko { cluster {");
        assertRefused("cluster configuration " + broken, "--cluster", broken.toString());
        assertRefused("slicegpt and llm-pruner have none", "--cluster", cluster, "--method", "slicegpt");
        assertRefused("slicegpt and llm-pruner have none", "--cluster", cluster, "--method", "llm-pruner");
        assertRefused("--min-workers must be at least 1, got 0", "--cluster", cluster, "--min-workers", "0");
        assertRefused("--seed-node must be pekko://lancet@HOST:PORT, got akka://lancet@h:1", "--cluster", cluster,
                "--seed-node", "akka://lancet@h:1");
        assertRefused("--cluster-port must be 0..65535, got 70000", "--cluster", cluster, "--cluster-port", "70000");
        assertRefused("target must be a fraction in (0, 1), got 1.0", "--cluster", cluster, "--target", "1");
    }

    @Test
    void llmPrunerBadInputIsRefusedAndWritesNothing() {
        String[] llmPruner = {"--method", "llm-pruner"};
        assertRefused("--importance must be one of element1, element2, vector, l2, random, got 'taylor'",
                with(llmPruner, "--importance", "taylor"));
        assertRefused("--aggregation must be one of sum, product, max, last, got 'mean'",
                with(llmPruner, "--aggregation", "mean"));
        assertRefused("--layers 2:9 reaches past the model's 4 blocks", with(llmPruner, "--layers", "2:9"));
        assertRefused("--layers must be FROM:TO", with(llmPruner, "--layers", "2"));
        assertRefused("the target would remove every head of block 0", with(llmPruner, "--target", "0.6"));
        assertRefused("llm-pruner removes coupled groups (--structure groups), not 2:4",
                with(llmPruner, "--structure", "2:4"));
        assertRefused("target must be a fraction in (0, 1), got 0.0", with(llmPruner, "--target", "0"));
        assertRefused("--strategy must be one of blocks, query-heads, channels, got 'heads'",
                with(llmPruner, "--strategy", "heads"));
        String[] channels = with(llmPruner, "--strategy", "channels");
        assertRefused("--layers applies to --strategy blocks only", with(channels, "--layers", "0:2"));
        // every one of tiny-llama's 192 hidden channels holds 1/192 of its parameters
        assertRefused("the target would remove every hidden channel", with(channels, "--target", "0.999"));
        assertRefused("--export dense cannot restore removed hidden channels", with(channels, "--export", "dense"));
        assertRefused("--strategy query-heads needs GQA blocks", with(llmPruner, "--strategy", "query-heads"));
        CliRun surgeon = CliRun.of("prune", "--importance", "l2", "--out", tmp.resolve("s").toString());
        assertEquals(Lancet.BAD_INPUT, surgeon.exitCode());
        assertTrue(surgeon.err().contains("--importance, --aggregation and --layers apply to --method llm-pruner only"),
                surgeon.err());
    }

    /**
     * LLM-Pruner on a GQA Llama: whole key/value groups leave the model, the target is a fraction of all parameters,
     * and the output is byte-identical run to run.
     */
    @Test
    void llmPrunerRemovesWholeGqaGroupsDeterministically() throws IOException {
        Path model = tmp.resolve("gqa");
        assertEquals(0, CliRun.of("synth", "--arch", "llama", "--hidden", "48", "--layers", "2", "--heads", "6",
                "--kv-heads", "2", "--intermediate", "64", "--max-positions", "128", "--out", model.toString())
                .exitCode());
        Files.copy(Fixtures.tinyLlama().resolve("tokenizer.json"), model.resolve("tokenizer.json"));
        Path eval = tmp.resolve("eval.txt");
        Files.writeString(eval, Files.readString(Fixtures.validText()).substring(0, 6_000));
        String[] flags = {"--method", "llm-pruner", "--model", model.toString(), "--importance", "element2",
                "--target", "0.05", "--eval", eval.toString(), "--eval-seqlen", "64", "--json"};
        CliRun first = prune(tmp.resolve("a"), flags);
        assertEquals(0, first.exitCode(), first.err());
        CliRun second = prune(tmp.resolve("b"), flags);
        assertEquals(0, second.exitCode(), second.err());
        assertArrayEquals(Files.readAllBytes(tmp.resolve("a/model.safetensors")),
                Files.readAllBytes(tmp.resolve("b/model.safetensors")));
        JsonNode result = new ObjectMapper().readTree(first.lastLine());
        long before = result.get("params_before").asLong();
        long after = result.get("params_after").asLong();
        try (Checkpoint pruned = Checkpoint.open(tmp.resolve("a"))) {
            // 5% of all parameters: each block loses one of its two KV groups (3 query heads), the MLP the rest
            for (var block : pruned.layout().blocks()) {
                assertEquals(1, block.kvHeads());
                assertEquals(3, block.heads());
            }
            long oneGroupAndChannels = before - after;
            assertEquals(0.05 * before, oneGroupAndChannels, 2 * 3 * 48);
        }
        JsonNode report = new ObjectMapper().readTree(tmp.resolve("a/pruning-report.json").toFile());
        assertEquals("LLM_PRUNER", report.get("job").get("method").asText());
        assertEquals("ELEMENT2", report.get("job").get("importance").asText());
        assertTrue(Files.size(tmp.resolve("a/pruning.png")) > 1000);
    }

    /**
     * LLM-Pruner's hidden channels: one narrower hidden_size for the whole model, saved as a stock-shaped checkpoint
     * (no per-layer entries) that loads, with the channels the shot removed in the report.
     */
    @Test
    void llmPrunerChannelsNarrowTheHiddenSize() throws IOException {
        Path eval = tmp.resolve("eval.txt");
        Files.writeString(eval, Files.readString(Fixtures.validText()).substring(0, 6_000));
        Path out = tmp.resolve("channels");
        CliRun run = prune(out, "--method", "llm-pruner", "--strategy", "channels", "--target", "0.1", "--eval",
                eval.toString(), "--eval-seqlen", "64", "--json");
        assertEquals(0, run.exitCode(), run.err());
        JsonNode result = new ObjectMapper().readTree(run.lastLine());
        JsonNode report = new ObjectMapper().readTree(out.resolve("pruning-report.json").toFile());
        int removed = report.get("shots").get(0).get("hidden_channels").size();
        // tiny-llama: 192 channels of 17,417 parameters each; 10% of 3,344,064 is 19.2 of them
        assertEquals(19, removed);
        assertEquals(result.get("params_before").asLong() - 19 * 17_417L, result.get("params_after").asLong());
        JsonNode config = new ObjectMapper().readTree(out.resolve("config.json").toFile());
        assertEquals(192 - 19, config.get("hidden_size").asInt());
        assertFalse(config.has("lancet"));
        try (Checkpoint pruned = Checkpoint.open(out)) {
            assertEquals(192 - 19, pruned.config().hiddenSize());
        }
        assertTrue(Double.isFinite(result.get("perplexity").asDouble()));
    }

    private static String[] with(String[] first, String... more) {
        return Stream.concat(Stream.of(first), Stream.of(more)).toArray(String[]::new);
    }
}
