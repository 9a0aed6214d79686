package dev.lancet.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.lancet.engine.Fixtures;
import dev.lancet.engine.curvature.FactorFile;
import dev.lancet.engine.curvature.KfacFactor;
import dev.lancet.engine.curvature.KfacState;
import dev.lancet.engine.io.DType;
import dev.lancet.engine.io.SafetensorsFile;
import dev.lancet.engine.io.SafetensorsWriter;
import dev.lancet.engine.io.SafetensorsWriter.Entry;
import dev.lancet.engine.text.Tokenizer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code lancet curvature}: file format, incremental --add-to, and bad input. */
class CurvatureCommandTest {

    private static final int SEQ = 32;

    @TempDir
    Path tmp;

    private Path lines(String name, int from, int to) throws IOException {
        List<String> all = Files.readAllLines(Fixtures.calibrationText());
        Path file = tmp.resolve(name);
        Files.write(file, all.subList(from, to));
        return file;
    }

    private static int windows(Path text) throws IOException {
        try (Tokenizer tokenizer = Tokenizer.load(Fixtures.tinyLlama().resolve("tokenizer.json"))) {
            return tokenizer.encode(Files.readString(text)).length / SEQ;
        }
    }

    /** A factor file with one tensor x.A of {@code shape} (and x.G when asked), and a token count. */
    private Path factorFile(String name, long[] shape, boolean withG) {
        Path file = tmp.resolve(name);
        float[] values = new float[(int) (shape[0] * shape[1])];
        List<Entry> entries = new java.util.ArrayList<>(List.of(Entry.ofFloats("x.A", DType.F32, shape, values)));
        if (withG) {
            entries.add(Entry.ofFloats("x.G", DType.F32, new long[] {1, 1}, new float[1]));
        }
        SafetensorsWriter.write(file, Map.of(FactorFile.TOKENS, "10"), entries);
        return file;
    }

    private CliRun curvature(String... args) {
        String[] base = {"curvature", "--model", Fixtures.tinyLlama().toString(), "--seqlen", Integer.toString(SEQ),
                "--sampling", "sequential", "--precision", "fp64"};
        return CliRun.of(Stream.concat(Stream.of(base), Stream.of(args)).toArray(String[]::new));
    }

    @Test
    void addingTheSecondHalfToTheFirstEqualsOnePassOverBoth() throws IOException {
        Path first = lines("first.txt", 0, 6);
        Path second = lines("second.txt", 6, 12);
        int n1 = windows(first);
        int n2 = windows(second);
        Path incremental = tmp.resolve("incremental.safetensors");
        Path all = tmp.resolve("all.safetensors");

        CliRun one = curvature("--calibration", first.toString(), "--samples", "" + n1, "--out", incremental.toString());
        assertEquals(0, one.exitCode(), one.err());
        CliRun two = curvature("--calibration", second.toString(), "--samples", "" + n2, "--add-to",
                incremental.toString(), "--out", incremental.toString(), "--json");
        assertEquals(0, two.exitCode(), two.err());
        JsonNode result = new ObjectMapper().readTree(two.lastLine());
        assertEquals((long) (n1 + n2) * (SEQ - 1), result.get("tokens").asLong());
        assertEquals(28, result.get("layers").asInt());
        CliRun both = curvature("--calibration", first.toString(), second.toString(), "--samples", "" + (n1 + n2),
                "--out", all.toString());
        assertEquals(0, both.exitCode(), both.err());

        KfacState a = FactorFile.read(incremental);
        KfacState b = FactorFile.read(all);
        for (KfacFactor f : b.factors()) {
            KfacFactor g = a.get(f.layer());
            assertEquals(f.tokens(), g.tokens());
            assertTrue(f.a().sub(g.a()).norm2Number().doubleValue() <= 1e-10 * f.a().norm2Number().doubleValue(), f.layer());
            assertTrue(f.g().sub(g.g()).norm2Number().doubleValue() <= 1e-10 * f.g().norm2Number().doubleValue(), f.layer());
        }
        try (SafetensorsFile file = SafetensorsFile.open(all)) {
            assertEquals(Long.toString((long) (n1 + n2) * (SEQ - 1)), file.metadata().get("tokens"));
            assertTrue(file.find("model.layers.0.self_attn.q_proj.A").isPresent());
            assertTrue(file.find("model.layers.3.mlp.down_proj.G").isPresent());
            assertEquals(512, file.find("model.layers.3.mlp.down_proj.A").orElseThrow().shape()[0]);
        }
    }

    @Test
    void addToAFactorFileOfAnotherModelIsRefused() throws IOException {
        Path optFactors = tmp.resolve("opt.safetensors");
        CliRun opt = CliRun.of("curvature", "--model", Fixtures.tinyOpt().toString(), "--samples", "2", "--seqlen", "16",
                "--out", optFactors.toString());
        assertEquals(0, opt.exitCode(), opt.err());
        byte[] before = Files.readAllBytes(optFactors);
        CliRun run = curvature("--samples", "2", "--add-to", optFactors.toString(), "--out", optFactors.toString());
        assertEquals(Lancet.BAD_INPUT, run.exitCode());
        assertTrue(run.err().contains("opt.safetensors") && run.err().contains("no factors for layer"), run.err());
        assertEquals(before.length, Files.readAllBytes(optFactors).length, "the old file is left as it was");
    }

    @Test
    void badInputGivesOneLineAndExitCode2() throws IOException {
        Path out = tmp.resolve("f.safetensors");
        Path small = lines("small.txt", 0, 1);
        Path notSquare = factorFile("not-square.safetensors", new long[] {2, 3}, true);
        Path noG = factorFile("no-g.safetensors", new long[] {2, 2}, false);
        String[][] cases = {
                {"--calibration", tmp.resolve("absent.txt").toString(), "--samples", "1", "--out", out.toString()},
                {"--calibration", small.toString(), "--samples", "1000", "--out", out.toString()},
                {"--samples", "1", "--add-to", small.toString(), "--out", out.toString()},
                {"--samples", "1", "--out", tmp.resolve("no/such/dir/f.safetensors").toString()},
                {"--samples", "1", "--add-to", notSquare.toString(), "--out", out.toString()},
                {"--samples", "1", "--add-to", noG.toString(), "--out", out.toString()},
        };
        String[] expected = {"absent.txt: text file not found", "fewer than the 1000 asked for", "small.txt",
                "output directory does not exist", "factor 'x.A' is not a square matrix", "'x.A' has no matching '.G'"};
        for (int i = 0; i < cases.length; i++) {
            CliRun run = curvature(cases[i]);
            assertEquals(Lancet.BAD_INPUT, run.exitCode(), run.err());
            assertTrue(run.err().contains(expected[i]), run.err());
            assertFalse(run.err().strip().contains("\n"), run.err());
        }
        CliRun tooLong = CliRun.of("curvature", "--samples", "1", "--seqlen", "4096", "--out", out.toString());
        assertEquals(Lancet.BAD_INPUT, tooLong.exitCode());
        assertTrue(tooLong.err().contains("config.json: windows of 4096 tokens exceed max_position_embeddings 512"), tooLong.err());
        CliRun precision = CliRun.of("curvature", "--precision", "fp16", "--out", out.toString());
        assertEquals(Lancet.BAD_INPUT, precision.exitCode());
        assertFalse(Files.exists(out));
    }
}
