package dev.lancet.engine.io;

import dev.lancet.engine.Fixtures;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class SafetensorsFileTest {
    @TempDir
    Path dir;

    /** A file with the given length prefix, header text and dataBytes bytes of data numbered 0, 1, 2, ... */
    static Path craft(Path file, long headerLength, String header, int dataBytes) throws IOException {
        byte[] json = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer buf = ByteBuffer.allocate(8 + json.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
        buf.putLong(headerLength).put(json);
        for (int i = 0; i < dataBytes; i++) {
            buf.put((byte) i);
        }
        return Files.write(file, buf.array());
    }

    static Path craft(Path file, String header, int dataBytes) throws IOException {
        return craft(file, header.getBytes(StandardCharsets.UTF_8).length, header, dataBytes);
    }

    /** The same 37 values (exact in every float dtype) as F16, F32, BF16 and F64, plus an I64 and an empty tensor. */
    private Path mixed() throws IOException {
        float[] values = expectedMixed();
        Path file = dir.resolve("mixed.safetensors");
        SafetensorsWriter.write(file, Map.of("format", "pt"), List.of(
                SafetensorsWriter.Entry.ofFloats("f16", DType.F16, new long[] {37}, values),
                SafetensorsWriter.Entry.ofFloats("f32", DType.F32, new long[] {37}, values),
                SafetensorsWriter.Entry.ofFloats("bf16", DType.BF16, new long[] {37}, values),
                SafetensorsWriter.Entry.ofFloats("f64", DType.F64, new long[] {37}, values),
                new SafetensorsWriter.Entry("ids", DType.I64, new long[] {2},
                        ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(7).putLong(-1).flip()),
                SafetensorsWriter.Entry.ofFloats("empty", DType.F32, new long[] {0, 4}, new float[0])));
        return file;
    }

    private static float[] expectedMixed() {
        float[] values = new float[37];
        for (int i = 0; i < values.length; i++) {
            values[i] = 0.5f * i - 3;
        }
        return values;
    }

    @Test
    void readsSharedLlamaCheckpoint() {
        try (SafetensorsFile f = SafetensorsFile.open(Fixtures.tinyLlama().resolve("model.safetensors"))) {
            assertEquals(Map.of("format", "pt"), f.metadata());
            assertEquals(39, f.tensors().size());
            TensorInfo first = f.tensors().get(0);
            assertEquals("lm_head.weight", first.name());
            assertEquals(DType.BF16, first.dtype());
            assertArrayEquals(new long[] {4096, 192}, first.shape());
            assertEquals(4096L * 192, first.elements());

            // Reference values computed with NumPy from the raw bits.
            float[] q = f.readFloats("model.layers.0.self_attn.q_proj.weight");
            assertEquals(192 * 192, q.length);
            assertArrayEquals(new float[] {-0.0830078125f, 0.0177001953125f, 0.02001953125f}, Arrays.copyOf(q, 3));
            double sum = 0;
            for (float v : q) {
                sum += v;
            }
            assertEquals(-9.98076655715704, sum, 1e-9);
        }
    }

    @Test
    void readsSharedOptCheckpoint() {
        try (SafetensorsFile f = SafetensorsFile.open(Fixtures.tinyOpt().resolve("model.safetensors"))) {
            assertEquals(68, f.tensors().size());
            double[] bias = f.readDoubles("model.decoder.layers.0.fc1.bias");
            assertEquals(768, bias.length);
            assertArrayEquals(new double[] {-0.1160888671875, -0.029754638671875, -0.1871337890625},
                    Arrays.copyOf(bias, 3));
            assertEquals(-67.76887279748917, Arrays.stream(bias).sum(), 1e-9);
        }
    }

    @Test
    void decodesEveryFloatDtype() throws IOException {
        float[] expected = expectedMixed();
        try (SafetensorsFile f = SafetensorsFile.open(mixed())) {
            assertEquals(List.of("f16", "f32", "bf16", "f64", "ids", "empty"),
                    f.tensors().stream().map(TensorInfo::name).toList());
            assertEquals(Map.of("format", "pt"), f.metadata());
            for (String name : List.of("f16", "f32", "bf16", "f64")) {
                assertArrayEquals(expected, f.readFloats(name), name);
                double[] d = f.readDoubles(name);
                for (int i = 0; i < expected.length; i++) {
                    assertEquals(expected[i], d[i], 0.0, name);
                }
            }
            assertEquals(0, f.readFloats("empty").length);
            assertEquals(0, f.raw("empty").remaining());
        }
    }

    @Test
    void rawIsReadOnlyLittleEndianAndZeroCopy() throws IOException {
        try (SafetensorsFile f = SafetensorsFile.open(mixed())) {
            ByteBuffer ids = f.raw("ids");
            assertTrue(ids.isReadOnly());
            assertTrue(ids.isDirect());
            assertEquals(ByteOrder.LITTLE_ENDIAN, ids.order());
            assertEquals(16, ids.remaining());
            assertEquals(7, ids.getLong(0));
            assertEquals(-1, ids.getLong(8));
        }
    }

    @Test
    void readsAcrossWindowBoundaries() throws IOException {
        Path file = mixed();
        float[] expected = expectedMixed();
        // 10-byte windows: 5 halves, 2 floats, 1 double per window; 1-byte windows: one element each.
        for (int window : new int[] {1, 10, 16, 74}) {
            try (SafetensorsFile f = SafetensorsFile.open(file, window)) {
                for (String name : List.of("f16", "f32", "bf16", "f64")) {
                    assertArrayEquals(expected, f.readFloats(name), name + " window " + window);
                    double[] d = f.readDoubles(name);
                    for (int i = 0; i < expected.length; i++) {
                        assertEquals(expected[i], d[i], 0.0, name + " window " + window);
                    }
                }
            }
        }
    }

    @Test
    void rawRefusesTensorsLargerThanOneMapping() throws IOException {
        Path file = mixed();
        try (SafetensorsFile f = SafetensorsFile.open(file, 16)) {
            assertEquals(16, f.raw("ids").remaining());
            CheckpointException e = assertThrows(CheckpointException.class, () -> f.raw("f16"));
            assertTrue(e.getMessage().contains("tensor 'f16' is 74 bytes, more than one buffer can map"), e.getMessage());
        }
    }

    @Test
    void lookupsOfMissingOrNonFloatTensors() throws IOException {
        Path file = mixed();
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            assertTrue(f.find("f32").isPresent());
            assertFalse(f.find("nope").isPresent());
            assertProblem(file, "no tensor named 'nope'", assertThrows(CheckpointException.class, () -> f.readFloats("nope")));
            assertProblem(file, "tensor 'ids' is I64, not a floating-point type",
                    assertThrows(CheckpointException.class, () -> f.readDoubles("ids")));
        }
    }

    @Test
    void noMetadataAndScalarTensor() throws IOException {
        Path file = craft(dir.resolve("scalar.safetensors"), "{\"s\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}  ", 4);
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            assertTrue(f.metadata().isEmpty());
            assertEquals(1, f.tensors().get(0).elements());
            assertEquals(1, f.readFloats("s").length);
        }
    }

    static Stream<Arguments> badHeaders() {
        String ok = "\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]";
        return Stream.of(
                Arguments.of("{abc", 8, "header is not valid JSON"),
                Arguments.of("[1,2]", 8, "header is not a JSON object"),
                Arguments.of("", 8, "header is not a JSON object"),
                Arguments.of("{\"w\":{" + ok + "}} x", 8, "header is not valid JSON"),
                Arguments.of("{\"w\":{" + ok + "},\"w\":{" + ok + "}}", 8, "Duplicate field 'w'"),
                Arguments.of("{\"w\":[]}", 8, "tensor 'w' is not a JSON object"),
                Arguments.of("{\"w\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "tensor 'w' has no dtype"),
                Arguments.of("{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", 8, "tensor 'w' has no shape"),
                Arguments.of("{\"w\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, "tensor 'w' has no data_offsets"),
                Arguments.of("{\"w\":{\"dtype\":4,\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "tensor 'w' dtype is not a string"),
                Arguments.of("{\"w\":{\"dtype\":\"Q4\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "unknown dtype 'Q4' for tensor 'w'"),
                Arguments.of("{\"w\":{\"dtype\":\"F32\",\"shape\":[-1,-2],\"data_offsets\":[0,8]}}", 8, "tensor 'w' has negative shape [-1, -2]"),
                Arguments.of("{\"w\":{\"dtype\":\"F32\",\"shape\":[\"2\"],\"data_offsets\":[0,8]}}", 8, "tensor 'w' shape is not an array of integers"),
                Arguments.of("{\"w\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,8]}}", 8, "tensor 'w' shape is not an array of integers"),
                Arguments.of("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", 8, "tensor 'w' has invalid data_offsets [0]"),
                Arguments.of("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8, "tensor 'w' has invalid data_offsets [8, 0]"),
                Arguments.of("{\"w\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,4],\"data_offsets\":[0,8]}}", 8,
                        "tensor 'w' shape [4611686018427387904, 4] is too large"),
                Arguments.of("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,12]}}", 12,
                        "tensor 'w' data_offsets [0, 12] span 12 bytes but shape [2] of F32 needs 8"),
                Arguments.of("{\"w\":{" + ok + "}}", 6, "tensor 'w' data_offsets [0, 8] reach past the end of the 6-byte data section"),
                Arguments.of("{\"a\":{" + ok + "},\"b\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[6,10]}}", 10,
                        "tensors 'a' and 'b' overlap"),
                Arguments.of("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                        + "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]},"
                        + "\"c\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", 16, "tensors 'a' and 'b' overlap"),
                Arguments.of("{\"__metadata__\":[],\"w\":{" + ok + "}}", 8, "__metadata__ is not a JSON object"),
                Arguments.of("{\"__metadata__\":{\"n\":3},\"w\":{" + ok + "}}", 8, "__metadata__ value of 'n' is not a string"));
    }

    @ParameterizedTest
    @MethodSource("badHeaders")
    void rejectsBadHeaders(String header, int dataBytes, String problem) throws IOException {
        Path file = craft(dir.resolve("bad.safetensors"), header, dataBytes);
        assertProblem(file, problem, assertThrows(CheckpointException.class, () -> SafetensorsFile.open(file)));
    }

    @Test
    void rejectsMissingFile() {
        Path file = dir.resolve("absent.safetensors");
        assertProblem(file, "no such file", assertThrows(CheckpointException.class, () -> SafetensorsFile.open(file)));
    }

    @Test
    void rejectsTooShortFile() throws IOException {
        Path file = Files.write(dir.resolve("short.safetensors"), new byte[5]);
        assertProblem(file, "file is 5 bytes, too short", assertThrows(CheckpointException.class, () -> SafetensorsFile.open(file)));
    }

    @Test
    void rejectsHeaderLengthBeyondFile() throws IOException {
        Path file = craft(dir.resolve("trunc.safetensors"), 1000, "{}", 0);
        assertProblem(file, "header length 1000 is larger than the 2 bytes that follow it",
                assertThrows(CheckpointException.class, () -> SafetensorsFile.open(file)));
    }

    @Test
    void rejectsHugeHeaderLength() throws IOException {
        Path file = craft(dir.resolve("huge.safetensors"), 200_000_000, "{}", 0);
        assertProblem(file, "header length 200000000 is over the 100 MB limit",
                assertThrows(CheckpointException.class, () -> SafetensorsFile.open(file)));
        Path negative = craft(dir.resolve("negative.safetensors"), -1, "{}", 0);
        assertProblem(negative, "header length 18446744073709551615 is over the 100 MB limit",
                assertThrows(CheckpointException.class, () -> SafetensorsFile.open(negative)));
    }

    private static void assertProblem(Path file, String problem, CheckpointException e) {
        String message = e.getMessage();
        assertTrue(message.startsWith(file + ": "), message);
        assertTrue(message.contains(problem), message);
        assertFalse(message.contains("\n"), message);
    }
}
