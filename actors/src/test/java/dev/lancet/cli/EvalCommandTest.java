package dev.lancet.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.lancet.engine.Fixtures;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

class EvalCommandTest {

    @TempDir
    Path tmp;

    @Test
    void jsonLineCarriesTheReferencePerplexity() throws Exception {
        CliRun run = CliRun.of("eval", "--model", Fixtures.tinyOpt().toString(), "--data", Fixtures.validText().toString(),
                "--seqlen", "256", "--max-windows", "64", "--json");
        assertEquals(0, run.exitCode(), run.err());
        JsonNode result = new ObjectMapper().readTree(run.lastLine());
        JsonNode ref = Fixtures.reference(Fixtures.tinyOpt()).get("valid_ppl_256_first64");
        assertEquals(ref.get("perplexity").asDouble(), result.get("perplexity").asDouble(), 1e-4 * ref.get("perplexity").asDouble());
        assertEquals(ref.get("tokens").asLong(), result.get("tokens").asLong());
        assertEquals(64, result.get("windows").asInt());
        assertTrue(result.get("seconds").asDouble() > 0);
    }

    @Test
    void synthWritesALoadableModelAndRefusesToOverwrite() throws Exception {
        Path out = tmp.resolve("synth");
        String[] args = {"synth", "--arch", "llama", "--hidden", "32", "--layers", "2", "--heads", "4", "--kv-heads", "2",
                "--intermediate", "48", "--vocab", "4096", "--max-positions", "64", "--out", out.toString()};
        assertEquals(0, CliRun.of(args).exitCode());
        Path tokenizer = Fixtures.tinyLlama().resolve("tokenizer.json");
        java.nio.file.Files.copy(tokenizer, out.resolve("tokenizer.json"));
        CliRun eval = CliRun.of("eval", "--model", out.toString(), "--seqlen", "32", "--max-windows", "4", "--json");
        assertEquals(0, eval.exitCode(), eval.err());
        // random weights with std 0.02 give nearly uniform predictions: perplexity close to the vocabulary size
        double ppl = new ObjectMapper().readTree(eval.lastLine()).get("perplexity").asDouble();
        assertEquals(4096, ppl, 400);
        CliRun again = CliRun.of(args);
        assertEquals(Lancet.BAD_INPUT, again.exitCode());
        assertTrue(again.err().contains("already holds a model"), again.err());
    }

    @Test
    void helpWorksOnEveryCommand() {
        for (String command : new CommandLine(new Lancet()).getSubcommands().keySet()) {
            CliRun run = CliRun.of(command, "--help");
            assertEquals(0, run.exitCode());
            assertTrue(run.out().contains("Usage: lancet " + command), run.out());
        }
    }
}
