package dev.lancet.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lancet.engine.Fixtures;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every kind of bad input to {@code lancet eval} ends in one line on stderr naming the file and the problem,
 * exit code 2, and no stack trace unless --debug.
 */
class EvalBadInputTest {

    @TempDir
    Path tmp;

    private Path model() throws IOException {
        Path dir = tmp.resolve("model");
        Files.createDirectories(dir);
        try (Stream<Path> files = Files.list(Fixtures.tinyLlama())) {
            for (Path f : (Iterable<Path>) files::iterator) {
                Files.copy(f, dir.resolve(f.getFileName()));
            }
        }
        return dir;
    }

    private Path text(String content) throws IOException {
        Path file = tmp.resolve("text.txt");
        Files.writeString(file, content);
        return file;
    }

    private static void assertBadInput(CliRun run, String file, String problem) {
        assertEquals(Lancet.BAD_INPUT, run.exitCode(), run.err());
        String err = run.err().strip();
        assertFalse(err.contains("\n"), "one line expected, got:\n" + err);
        assertTrue(err.contains(file), "names the file " + file + ": " + err);
        assertTrue(err.contains(problem), "says '" + problem + "': " + err);
        assertFalse(err.contains("\tat "), err);
    }

    private CliRun eval(Path model, Path data, String... extra) {
        String[] base = {"eval", "--model", model.toString(), "--data", data.toString(), "--max-windows", "1"};
        return CliRun.of(Stream.concat(Stream.of(base), Stream.of(extra)).toArray(String[]::new));
    }

    @Test
    void missingModelDirectory() throws IOException {
        Path missing = tmp.resolve("nowhere");
        assertBadInput(eval(missing, Fixtures.validText()), "nowhere", "model directory not found");
    }

    @Test
    void missingConfig() throws IOException {
        Path model = model();
        Files.delete(model.resolve("config.json"));
        assertBadInput(eval(model, Fixtures.validText()), "config.json", "file not found");
    }

    @Test
    void unsupportedModelType() throws IOException {
        Path model = model();
        Path config = model.resolve("config.json");
        Files.writeString(config, Files.readString(config).replace("\"llama\"", "\"gpt2\""));
        assertBadInput(eval(model, Fixtures.validText()), "config.json", "unsupported model_type 'gpt2' (supported: llama, mistral, opt, qwen2)");
    }

    @Test
    void truncatedWeights() throws IOException {
        Path model = model();
        Path weights = model.resolve("model.safetensors");
        try (RandomAccessFile f = new RandomAccessFile(weights.toFile(), "rw")) {
            f.setLength(f.length() - 1000);
        }
        assertBadInput(eval(model, Fixtures.validText()), "model.safetensors", "truncated file");
    }

    @Test
    void headerLengthBeyondFile() throws IOException {
        Path model = model();
        writeHeaderLength(model.resolve("model.safetensors"), 1L << 40);
        assertBadInput(eval(model, Fixtures.validText()), "model.safetensors", "header");
    }

    @Test
    void overlappingTensors() throws IOException {
        Path model = model();
        rewriteHeader(model.resolve("model.safetensors"), "\"data_offsets\":[1572864,3145728]", "\"data_offsets\":[1572862,3145726]");
        assertBadInput(eval(model, Fixtures.validText()), "model.safetensors", "overlap");
    }

    @Test
    void unknownDtype() throws IOException {
        Path model = model();
        rewriteHeader(model.resolve("model.safetensors"), "{\"dtype\":\"BF16\",\"shape\":[4096,192]",
                "{\"dtype\":\"XX16\",\"shape\":[4096,192]");
        assertBadInput(eval(model, Fixtures.validText()), "model.safetensors", "unknown dtype 'XX16'");
    }

    @Test
    void shapeDisagreesWithConfig() throws IOException {
        Path model = model();
        Path config = model.resolve("config.json");
        Files.writeString(config, Files.readString(config).replace("\"intermediate_size\": 512", "\"intermediate_size\": 500"));
        assertBadInput(eval(model, Fixtures.validText()), "model.safetensors", "but the config implies [500, 192]");
    }

    @Test
    void missingTensor() throws IOException {
        Path model = model();
        rewriteHeader(model.resolve("model.safetensors"), "\"model.norm.weight\"", "\"model.nrm0.weight\"");
        assertBadInput(eval(model, Fixtures.validText()), "model.safetensors", "missing tensor 'model.norm.weight'");
    }

    @Test
    void seqlenBeyondMaxPositions() throws IOException {
        assertBadInput(eval(Fixtures.tinyLlama(), Fixtures.validText(), "--seqlen", "1024"), "config.json",
                "windows of 1024 tokens exceed max_position_embeddings 512");
    }

    static Stream<Arguments> refusedConfigs() {
        return Stream.of(
                Arguments.of("unknown rope_type", "llama", "\"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 4.0}",
                        "rope_scaling type 'yarn' is not supported (supported: default, linear, llama3)"),
                Arguments.of("rope_scaling missing a key", "llama", "\"rope_scaling\": {\"rope_type\": \"llama3\", "
                        + "\"factor\": 8.0, \"high_freq_factor\": 4.0, \"original_max_position_embeddings\": 64}",
                        "missing 'rope_scaling.low_freq_factor'"),
                Arguments.of("Mistral sliding_window shorter than --seqlen", "mistral", "\"sliding_window\": 64",
                        "windows of 128 tokens exceed sliding_window 64 (sliding-window attention is not implemented; "
                                + "use windows of 64 tokens or less)"),
                Arguments.of("Qwen2 with use_sliding_window", "qwen2", "\"use_sliding_window\": true",
                        "use_sliding_window=true is not supported"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("refusedConfigs")
    void refusedConfig(String name, String modelType, String entry, String problem) throws IOException {
        assertBadInput(eval(editedConfig(modelType, entry), Fixtures.validText()), "config.json", problem);
    }

    /** The embedded Llama as {@code modelType}, with {@code entry} added to its config.json. */
    private Path editedConfig(String modelType, String entry) throws IOException {
        Path model = model();
        Path config = model.resolve("config.json");
        Files.writeString(config, Files.readString(config).replaceFirst("\\{", "{" + entry + ",")
                .replace("\"llama\"", "\"" + modelType + "\""));
        return model;
    }

    @Test
    void dataShorterThanOneWindow() throws IOException {
        assertBadInput(eval(Fixtures.tinyLlama(), text("Too short.")), "text.txt", "shorter than one window of 128");
    }

    @Test
    void nonUtf8Data() throws IOException {
        Path file = tmp.resolve("latin1.txt");
        Files.write(file, "caf\u00e9 ".repeat(100).getBytes(StandardCharsets.ISO_8859_1));
        assertBadInput(eval(Fixtures.tinyLlama(), file), "latin1.txt", "not valid UTF-8");
    }

    @Test
    void missingDataFile() {
        assertBadInput(eval(Fixtures.tinyLlama(), tmp.resolve("absent.txt")), "absent.txt", "not found");
    }

    @Test
    void debugPrintsTheStackTrace() {
        CliRun run = eval(tmp.resolve("nowhere"), Fixtures.validText(), "--debug");
        assertEquals(Lancet.BAD_INPUT, run.exitCode());
        assertTrue(run.err().contains("\tat "), run.err());
    }

    /** Replaces a string in the JSON header, keeping its length so offsets stay valid. */
    private static void rewriteHeader(Path file, String from, String to) throws IOException {
        assertEquals(from.length(), to.length());
        byte[] bytes = Files.readAllBytes(file);
        long n = ByteBuffer.wrap(bytes, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        String header = new String(bytes, 8, (int) n, StandardCharsets.UTF_8);
        assertTrue(header.contains(from), from);
        byte[] patched = header.replace(from, to).getBytes(StandardCharsets.UTF_8);
        System.arraycopy(patched, 0, bytes, 8, patched.length);
        Files.write(file, bytes);
    }

    private static void writeHeaderLength(Path file, long length) throws IOException {
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
            f.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(length).array());
        }
    }
}
