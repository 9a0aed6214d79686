package dev.lancet.engine.io;

import dev.lancet.engine.Fixtures;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lancet.engine.io.SafetensorsWriter.Entry;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class SafetensorsWriterTest {
    @TempDir
    Path dir;

    @ParameterizedTest
    @ValueSource(strings = {"tiny-llama", "tiny-opt"})
    void copyingEveryTensorReproducesTheFileByteForByte(String model) throws IOException {
        Path source = Fixtures.repoRoot().resolve("assets/models").resolve(model).resolve("model.safetensors");
        Path copy = dir.resolve("copy.safetensors");
        try (SafetensorsFile f = SafetensorsFile.open(source)) {
            SafetensorsWriter.write(copy, f.metadata(), f.tensors().stream().map(t -> Entry.copyOf(f, t)).toList());
        }
        assertEquals(-1, Files.mismatch(source, copy));
    }

    @ParameterizedTest
    @ValueSource(strings = {"tiny-llama", "tiny-opt"})
    void decodingAndReencodingReproducesTheFileByteForByte(String model) throws IOException {
        Path source = Fixtures.repoRoot().resolve("assets/models").resolve(model).resolve("model.safetensors");
        Path copy = dir.resolve("reencoded.safetensors");
        try (SafetensorsFile f = SafetensorsFile.open(source)) {
            List<Entry> entries = f.tensors().stream()
                    .map(t -> Entry.ofFloats(t.name(), t.dtype(), t.shape(), f.readFloats(t.name())))
                    .toList();
            SafetensorsWriter.write(copy, f.metadata(), entries);
        }
        assertEquals(-1, Files.mismatch(source, copy));
    }

    @Test
    void layoutMatchesTheReferenceImplementation() throws IOException {
        Path file = dir.resolve("small.safetensors");
        Map<String, String> metadata = new LinkedHashMap<>();
        metadata.put("format", "pt");
        metadata.put("note", "a\"b");
        SafetensorsWriter.write(file, metadata, List.of(
                Entry.ofFloats("b", DType.F16, new long[] {3}, new float[] {1f, 65504f, 0x1p-24f}),
                Entry.ofFloats("a", DType.BF16, new long[] {1, 1}, new float[] {1f})));
        String json = "{\"__metadata__\":{\"format\":\"pt\",\"note\":\"a\\\"b\"},"
                + "\"b\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[0,6]},"
                + "\"a\":{\"dtype\":\"BF16\",\"shape\":[1,1],\"data_offsets\":[6,8]}}";
        String padded = json + " ".repeat((8 - json.length() % 8) % 8);
        ByteBuffer expected = ByteBuffer.allocate(8 + padded.length() + 8).order(ByteOrder.LITTLE_ENDIAN)
                .putLong(padded.length())
                .put(padded.getBytes(StandardCharsets.UTF_8))
                .put(new byte[] {0x00, 0x3C, (byte) 0xFF, 0x7B, 0x01, 0x00}) // F16 1.0, 65504, 2^-24
                .put(new byte[] {(byte) 0x80, 0x3F});                        // BF16 1.0
        assertArrayEquals(expected.array(), Files.readAllBytes(file));
    }

    @Test
    void emptyMetadataIsOmitted() throws IOException {
        Path file = dir.resolve("plain.safetensors");
        SafetensorsWriter.write(file, Map.of(), List.of(Entry.ofFloats("x", DType.F32, new long[] {1}, new float[] {2f})));
        String text = new String(Files.readAllBytes(file), StandardCharsets.ISO_8859_1);
        assertTrue(text.startsWith("{\"x\":{", 8), text);
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            assertTrue(f.metadata().isEmpty());
            assertArrayEquals(new float[] {2f}, f.readFloats("x"));
        }
    }

    @Test
    void replacesAnExistingFileAndLeavesNoTemporaryFiles() throws IOException {
        Path file = Files.writeString(dir.resolve("model.safetensors"), "old contents");
        SafetensorsWriter.write(file, Map.of(), List.of(Entry.ofFloats("x", DType.F64, new long[] {2}, new float[] {1f, -1f})));
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            assertArrayEquals(new double[] {1, -1}, f.readDoubles("x"));
        }
        try (Stream<Path> files = Files.list(dir)) {
            assertEquals(List.of(file), files.toList());
        }
    }

    @Test
    void failedWriteLeavesNoTemporaryFile() throws IOException {
        Path target = Files.createDirectory(dir.resolve("occupied"));
        Files.writeString(target.resolve("child"), "x"); // a non-empty directory cannot be replaced
        CheckpointException e = assertThrows(CheckpointException.class, () -> SafetensorsWriter.write(target, Map.of(),
                List.of(Entry.ofFloats("x", DType.F32, new long[] {1}, new float[] {1f}))));
        assertTrue(e.getMessage().startsWith(target + ": cannot write"), e.getMessage());
        try (Stream<Path> files = Files.list(dir)) {
            assertEquals(List.of(target), files.toList());
        }
    }

    @Test
    void rejectsInconsistentEntries() {
        assertThrows(IllegalArgumentException.class,
                () -> new Entry("x", DType.F32, new long[] {3}, ByteBuffer.allocate(8)));
        assertThrows(IllegalArgumentException.class,
                () -> Entry.ofFloats("x", DType.F16, new long[] {2, 2}, new float[3]));
        assertThrows(IllegalArgumentException.class,
                () -> Entry.ofFloats("x", DType.I32, new long[] {1}, new float[1]));
        Entry x = Entry.ofFloats("x", DType.F32, new long[] {1}, new float[1]);
        assertThrows(IllegalArgumentException.class,
                () -> SafetensorsWriter.write(dir.resolve("dup.safetensors"), Map.of(), List.of(x, x)));
    }

    @Test
    void streamedBodiesArriveInPiecesAndAShortBodyFailsTheWholeFile() throws IOException {
        Path file = dir.resolve("pieces.safetensors");
        SafetensorsWriter.write(file, Map.of(), List.of(new Entry("x", DType.F32, new long[] {2}, sink -> {
            sink.accept(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putFloat(0, 1.5f));
            sink.accept(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putFloat(0, -2f));
        })));
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            assertArrayEquals(new float[] {1.5f, -2f}, f.readFloats("x"));
        }
        Path shortFile = dir.resolve("short.safetensors");
        assertThrows(IllegalArgumentException.class, () -> SafetensorsWriter.write(shortFile, Map.of(),
                List.of(new Entry("x", DType.F32, new long[] {2}, sink -> sink.accept(ByteBuffer.allocate(4))))));
        try (Stream<Path> files = Files.list(dir)) {
            assertEquals(List.of(file), files.toList());
        }
    }
}
