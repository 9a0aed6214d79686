package dev.lancet.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.lancet.engine.Fixtures;
import dev.lancet.engine.io.SafetensorsFile;
import dev.lancet.engine.io.TensorInfo;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code lancet edit} end to end: shrunk models whose perplexity, measured by {@code lancet eval} after reloading,
 * equals the independent PyTorch loader's (which reads every shape from the tensors) on the same saved directory,
 * and bad edits refused with one line, exit code 2 and nothing written.
 */
class EditCommandTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path tmp;

    /**
     * Each case of {@code edits/reference.json}: the edit's flags and what ../shared/reference/refcheck.py measured
     * on its output ({@code edits/make-reference.sh} made the file).
     */
    @Test
    void editedModelsMatchTheIndependentLoader() throws IOException {
        JsonNode cases;
        try (InputStream in = getClass().getResourceAsStream("/edits/reference.json")) {
            cases = JSON.readTree(in);
        }
        assertTrue(cases.size() >= 2);
        for (JsonNode c : cases) {
            Path out = tmp.resolve(c.get("name").asText());
            List<String> args = new ArrayList<>(List.of("edit", "--model",
                    Fixtures.repoRoot().resolve(c.get("model").asText()).toString(), "--out", out.toString(), "--json"));
            c.get("flags").forEach(f -> args.add(f.asText()));
            CliRun edit = CliRun.of(args.toArray(String[]::new));
            assertEquals(0, edit.exitCode(), edit.err());
            JsonNode result = JSON.readTree(edit.lastLine());
            assertEquals(c.get("params").asLong(), result.get("params_after").asLong());
            assertEquals(c.get("params").asLong(), tensorElements(out));
            assertTrue(result.get("params_before").asLong() > result.get("params_after").asLong());

            CliRun eval = CliRun.of("eval", "--model", out.toString(), "--data", Fixtures.validText().toString(),
                    "--max-windows", c.get("windows").asText(), "--json");
            assertEquals(0, eval.exitCode(), eval.err());
            JsonNode measured = JSON.readTree(eval.lastLine());
            double want = c.get("perplexity").asDouble();
            assertEquals(want, measured.get("perplexity").asDouble(), 1e-4 * want, c.get("name").asText());
            assertEquals(c.get("tokens").asLong(), measured.get("tokens").asLong());
        }
    }

    private static long tensorElements(Path dir) {
        try (SafetensorsFile weights = SafetensorsFile.open(dir.resolve("model.safetensors"))) {
            return weights.tensors().stream().map(TensorInfo::shape)
                    .mapToLong(s -> Arrays.stream(s).reduce(1, (a, b) -> a * b)).sum();
        }
    }

    private Path gqa() {
        Path dir = tmp.resolve("gqa");
        assertEquals(0, CliRun.of("synth", "--arch", "llama", "--hidden", "48", "--layers", "2", "--heads", "6",
                "--kv-heads", "2", "--intermediate", "40", "--vocab", "4096", "--dtype", "F32", "--out",
                dir.toString()).exitCode());
        return dir;
    }

    private CliRun edit(Path model, Path out, String... flags) {
        return CliRun.of(Stream.concat(Stream.of("edit", "--model", model.toString(), "--out", out.toString()),
                Stream.of(flags)).toArray(String[]::new));
    }

    private void assertRefused(Path model, String problem, String... flags) {
        Path out = tmp.resolve("out");
        CliRun run = edit(model, out, flags);
        assertEquals(Lancet.BAD_INPUT, run.exitCode(), run.err());
        String err = run.err().strip();
        assertFalse(err.contains("\n"), "one line expected, got:\n" + err);
        assertTrue(err.contains(problem), "says '" + problem + "': " + err);
        assertFalse(Files.exists(out), "nothing written for " + String.join(" ", flags));
    }

    private Path copyOf(Path model, String name) throws IOException {
        Path dir = tmp.resolve(name);
        Files.createDirectories(dir);
        try (Stream<Path> files = Files.list(model)) {
            for (Path f : (Iterable<Path>) files::iterator) {
                Files.copy(f, dir.resolve(f.getFileName()));
            }
        }
        return dir;
    }

    @Test
    void badEditsAreRefusedAndWriteNothing() throws IOException {
        Path llama = Fixtures.tinyLlama();
        assertRefused(llama, "head 6 is out of range (block 0 has 6 heads)", "--drop-heads", "0:6");
        assertRefused(llama, "KV head 7 is out of range", "--drop-kv-heads", "1:7");
        assertRefused(llama, "channel 512 is out of range", "--drop-channels", "2:500-512");
        assertRefused(llama, "block 4 is out of range (the model has 4 blocks)", "--drop-blocks", "4");
        assertRefused(llama, "block 9 is out of range", "--drop-heads", "9:0");
        assertRefused(llama, "drops every head of block 1; drop the block instead", "--drop-heads", "1:0-5");
        assertRefused(llama, "drops every MLP channel of block 0", "--drop-channels", "0:0-511");
        assertRefused(llama, "cannot drop every block", "--drop-blocks", "0-3");
        assertRefused(llama, "--drop-heads expects BLOCK:LIST", "--drop-heads", "3");
        assertRefused(llama, "'x' is not an index", "--drop-channels", "0:x");
        assertRefused(gqa(), "uneven query-head removal", "--drop-heads", "0:0,1,3");

        Path contradicting = copyOf(llama, "contradicting");
        ObjectNode config = (ObjectNode) JSON.readTree(contradicting.resolve("config.json").toFile());
        var layers = config.putObject("lancet").putArray("layers");
        for (int i = 0; i < 4; i++) {
            layers.addObject().put("heads", i == 2 ? 5 : 6).put("kv_heads", i == 2 ? 5 : 6).put("intermediate", 512);
        }
        JSON.writeValue(contradicting.resolve("config.json").toFile(), config);
        assertRefused(contradicting, "model.layers.2.self_attn.q_proj.weight' has shape [192, 192] but the config implies [160, 192]",
                "--drop-channels", "0:0");

        Path copy = copyOf(llama, "copy");
        CliRun same = edit(copy, copy, "--drop-blocks", "0");
        assertEquals(Lancet.BAD_INPUT, same.exitCode(), same.err());
        assertTrue(same.err().contains("is the input model"), same.err());
    }
}
