package dev.lancet.engine.io;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import java.io.EOFException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.DoubleBuffer;
import java.nio.FloatBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.ObjIntConsumer;

/**
 * A read-only safetensors file: 8-byte little-endian header length, JSON header, data section.
 * The header is validated on open; tensor data is memory-mapped on demand, never read whole into the heap.
 */
public final class SafetensorsFile implements AutoCloseable {
    /** Same limit as the reference (Rust) implementation. */
    static final long MAX_HEADER_BYTES = 100_000_000;
    /** One MappedByteBuffer holds at most this many bytes on Java 17, so larger tensors are read in windows. */
    static final int MAX_WINDOW = Integer.MAX_VALUE;

    private static final ObjectMapper JSON = JsonMapper.builder()
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION) // a repeated tensor name is corruption, not "last wins"
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .build();

    private final Path file;
    private final FileChannel channel;
    private final int window;
    private final long dataStart;
    private final Map<String, TensorInfo> byName = new LinkedHashMap<>();
    private final Map<String, String> metadata = new LinkedHashMap<>();
    private final List<TensorInfo> tensors;

    private SafetensorsFile(Path file, FileChannel channel, int window) throws IOException {
        this.file = file;
        this.channel = channel;
        this.window = window;
        long size = channel.size();
        if (size < 8) {
            throw bad("file is " + size + " bytes, too short for a safetensors header");
        }
        long headerLength = readFully(0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        if (headerLength < 0 || headerLength > MAX_HEADER_BYTES) {
            throw bad("header length " + Long.toUnsignedString(headerLength) + " is over the 100 MB limit");
        }
        if (headerLength > size - 8) {
            throw bad("header length " + headerLength + " is larger than the " + (size - 8)
                    + " bytes that follow it (truncated file?)");
        }
        dataStart = 8 + headerLength;
        parseHeader(readFully(8, (int) headerLength).array(), size - dataStart);
        tensors = List.copyOf(byName.values());
    }

    public static SafetensorsFile open(Path file) {
        return open(file, MAX_WINDOW);
    }

    /** With a small window, tests exercise the multi-window path that only > 2 GiB tensors need in production. */
    static SafetensorsFile open(Path file, int window) {
        FileChannel channel;
        try {
            channel = FileChannel.open(file, StandardOpenOption.READ);
        } catch (NoSuchFileException e) {
            throw new CheckpointException(file, "no such file", e);
        } catch (IOException e) {
            throw new CheckpointException(file, "cannot open: " + e, e);
        }
        boolean opened = false;
        try {
            SafetensorsFile f = new SafetensorsFile(file, channel, window);
            opened = true;
            return f;
        } catch (IOException e) {
            throw new CheckpointException(file, "cannot read: " + e, e);
        } finally {
            if (!opened) {
                try {
                    channel.close();
                } catch (IOException ignored) {
                    // the failure being thrown matters more
                }
            }
        }
    }

    /** The file this was opened from, for error messages about its contents. */
    public Path path() {
        return file;
    }

    /** Tensors in header order. */
    public List<TensorInfo> tensors() {
        return tensors;
    }

    /** The {@code __metadata__} map in header order; empty if the header has none. */
    public Map<String, String> metadata() {
        return Collections.unmodifiableMap(metadata);
    }

    public Optional<TensorInfo> find(String name) {
        return Optional.ofNullable(byName.get(name));
    }

    /** Zero-copy, read-only, little-endian view of a tensor's bytes (position 0; views made from it revert to big-endian). */
    public ByteBuffer raw(String name) {
        TensorInfo t = get(name);
        long length = t.end() - t.begin();
        if (length > window) {
            throw bad("tensor '" + name + "' is " + length + " bytes, more than one buffer can map (" + window
                    + "); use readFloats/readDoubles");
        }
        return map(t, 0, length);
    }

    /** Decodes a floating-point tensor to fp32 (F64 is rounded to nearest). */
    public float[] readFloats(String name) {
        float[] out = new float[(int) floatTensor(name).elements()];
        readInto(name, FloatBuffer.wrap(out));
        return out;
    }

    /** Decodes a floating-point tensor to fp64; exact for every dtype. */
    public double[] readDoubles(String name) {
        double[] out = new double[(int) floatTensor(name).elements()];
        readInto(name, DoubleBuffer.wrap(out));
        return out;
    }

    /** Decodes into {@code dst} from its position as fp32, e.g. straight into native tensor memory. */
    public void readInto(String name, FloatBuffer dst) {
        TensorInfo t = floatTensor(name);
        int base = dst.position();
        forEachWindow(t, (buf, at) -> {
            int n = buf.remaining() / t.dtype().bytes();
            FloatBuffer out = dst.duplicate().position(base + at);
            switch (t.dtype()) {
                case F32 -> out.put(buf.asFloatBuffer());
                case F64 -> { for (int i = 0; i < n; i++) out.put((float) buf.getDouble()); }
                case F16 -> { for (int i = 0; i < n; i++) out.put(HalfFloat.f16ToFloat(buf.getShort())); }
                case BF16 -> { for (int i = 0; i < n; i++) out.put(HalfFloat.bf16ToFloat(buf.getShort())); }
                default -> throw new AssertionError(t.dtype());
            }
        });
    }

    /** Decodes into {@code dst} from its position as fp64; exact for every dtype. */
    public void readInto(String name, DoubleBuffer dst) {
        TensorInfo t = floatTensor(name);
        int base = dst.position();
        forEachWindow(t, (buf, at) -> {
            int n = buf.remaining() / t.dtype().bytes();
            DoubleBuffer out = dst.duplicate().position(base + at);
            switch (t.dtype()) {
                case F64 -> out.put(buf.asDoubleBuffer());
                case F32 -> { for (int i = 0; i < n; i++) out.put(buf.getFloat()); }
                case F16 -> { for (int i = 0; i < n; i++) out.put(HalfFloat.f16ToFloat(buf.getShort())); }
                case BF16 -> { for (int i = 0; i < n; i++) out.put(HalfFloat.bf16ToFloat(buf.getShort())); }
                default -> throw new AssertionError(t.dtype());
            }
        });
    }

    @Override
    public void close() {
        try {
            channel.close(); // buffers already handed out stay valid until garbage-collected
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private void parseHeader(byte[] header, long dataSize) {
        JsonNode root;
        try {
            root = JSON.readTree(header);
        } catch (IOException e) {
            String why = e instanceof JsonProcessingException j ? j.getOriginalMessage() : e.toString();
            throw bad("header is not valid JSON: " + why);
        }
        if (root == null || !root.isObject()) {
            throw bad("header is not a JSON object");
        }
        for (Map.Entry<String, JsonNode> e : root.properties()) {
            if (e.getKey().equals("__metadata__")) {
                parseMetadata(e.getValue());
            } else {
                TensorInfo t = parseTensor(e.getKey(), e.getValue(), dataSize);
                byName.put(t.name(), t);
            }
        }
        checkNoOverlap();
    }

    private void parseMetadata(JsonNode node) {
        if (!node.isObject()) {
            throw bad("__metadata__ is not a JSON object");
        }
        for (Map.Entry<String, JsonNode> e : node.properties()) {
            if (!e.getValue().isTextual()) {
                throw bad("__metadata__ value of '" + e.getKey() + "' is not a string");
            }
            metadata.put(e.getKey(), e.getValue().textValue());
        }
    }

    private TensorInfo parseTensor(String name, JsonNode node, long dataSize) {
        String tensor = "tensor '" + name + "'";
        if (!node.isObject()) {
            throw bad(tensor + " is not a JSON object");
        }
        JsonNode dtypeNode = required(node, "dtype", tensor);
        if (!dtypeNode.isTextual()) {
            throw bad(tensor + " dtype is not a string");
        }
        DType dtype;
        try {
            dtype = DType.parse(dtypeNode.textValue());
        } catch (IllegalArgumentException e) {
            throw bad(e.getMessage() + " for " + tensor);
        }
        long[] shape = longs(required(node, "shape", tensor), tensor + " shape");
        if (Arrays.stream(shape).anyMatch(d -> d < 0)) {
            throw bad(tensor + " has negative shape " + Arrays.toString(shape));
        }
        long[] offsets = longs(required(node, "data_offsets", tensor), tensor + " data_offsets");
        if (offsets.length != 2 || offsets[0] < 0 || offsets[1] < offsets[0]) {
            throw bad(tensor + " has invalid data_offsets " + Arrays.toString(offsets));
        }
        long expected;
        try {
            expected = Math.multiplyExact(Arrays.stream(shape).reduce(1, Math::multiplyExact), dtype.bytes());
        } catch (ArithmeticException e) {
            throw bad(tensor + " shape " + Arrays.toString(shape) + " is too large");
        }
        if (offsets[1] - offsets[0] != expected) {
            throw bad(tensor + " data_offsets " + Arrays.toString(offsets) + " span " + (offsets[1] - offsets[0])
                    + " bytes but shape " + Arrays.toString(shape) + " of " + dtype + " needs " + expected);
        }
        if (offsets[1] > dataSize) {
            throw bad(tensor + " data_offsets " + Arrays.toString(offsets) + " reach past the end of the "
                    + dataSize + "-byte data section (truncated file?)");
        }
        return new TensorInfo(name, dtype, shape, offsets[0], offsets[1]);
    }

    private JsonNode required(JsonNode node, String field, String tensor) {
        JsonNode value = node.get(field);
        if (value == null) {
            throw bad(tensor + " has no " + field);
        }
        return value;
    }

    private long[] longs(JsonNode node, String what) {
        if (!node.isArray()) {
            throw bad(what + " is not an array of integers");
        }
        long[] out = new long[node.size()];
        for (int i = 0; i < out.length; i++) {
            JsonNode v = node.get(i);
            if (!v.isIntegralNumber() || !v.canConvertToLong()) {
                throw bad(what + " is not an array of integers");
            }
            out[i] = v.longValue();
        }
        return out;
    }

    private void checkNoOverlap() {
        List<TensorInfo> sorted = new ArrayList<>(byName.values());
        sorted.sort(Comparator.comparingLong(TensorInfo::begin).thenComparingLong(TensorInfo::end));
        TensorInfo furthest = null; // the tensor reaching furthest so far, so nested overlaps are caught too
        for (TensorInfo t : sorted) {
            if (furthest != null && t.begin() < furthest.end()) {
                throw bad("tensors '" + furthest.name() + "' and '" + t.name() + "' overlap in the data section");
            }
            if (furthest == null || t.end() > furthest.end()) {
                furthest = t;
            }
        }
    }

    private TensorInfo get(String name) {
        return find(name).orElseThrow(() -> bad("no tensor named '" + name + "'"));
    }

    private TensorInfo floatTensor(String name) {
        TensorInfo t = get(name);
        if (!t.dtype().isFloat()) {
            throw bad("tensor '" + name + "' is " + t.dtype() + ", not a floating-point type");
        }
        if (t.elements() > Integer.MAX_VALUE - 8) { // largest array the JVM allocates
            throw bad("tensor '" + name + "' has " + t.elements() + " elements, more than a Java array holds");
        }
        return t;
    }

    /** Decoding reads through this much buffer at a time, whatever the tensor's size. */
    private static final int READ_CHUNK = 8 << 20;

    /**
     * Reads the tensor chunk by chunk (each a whole number of elements) into one reused buffer and hands each
     * with its first element index. Reading rather than mapping keeps the file's pages out of this process's
     * resident memory, so loading peaks near the decoded model's size.
     */
    private void forEachWindow(TensorInfo t, ObjIntConsumer<ByteBuffer> reader) {
        int bytes = t.dtype().bytes();
        long length = t.end() - t.begin();
        int step = (int) Math.min(Math.max(Math.min(window, READ_CHUNK) / bytes, 1) * (long) bytes, Math.max(length, 1));
        ByteBuffer chunk = ByteBuffer.allocateDirect(step).order(ByteOrder.LITTLE_ENDIAN);
        for (long pos = 0; pos < length; pos += step) {
            chunk.clear().limit((int) Math.min(step, length - pos));
            long at = dataStart + t.begin() + pos;
            try {
                while (chunk.hasRemaining()) {
                    if (channel.read(chunk, at + chunk.position()) < 0) {
                        throw new CheckpointException(file, "tensor '" + t.name() + "' ends early (file truncated while open?)");
                    }
                }
            } catch (IOException e) {
                throw new CheckpointException(file, "cannot read tensor '" + t.name() + "': " + e, e);
            }
            reader.accept(chunk.flip(), (int) (pos / bytes));
        }
    }

    private ByteBuffer map(TensorInfo t, long offset, long length) {
        try {
            return channel.map(FileChannel.MapMode.READ_ONLY, dataStart + t.begin() + offset, length)
                    .order(ByteOrder.LITTLE_ENDIAN);
        } catch (IOException e) {
            throw new CheckpointException(file, "cannot read tensor '" + t.name() + "': " + e, e);
        }
    }

    private ByteBuffer readFully(long position, int length) throws IOException {
        ByteBuffer buf = ByteBuffer.allocate(length);
        while (buf.hasRemaining()) {
            if (channel.read(buf, position + buf.position()) < 0) {
                throw new EOFException("file shrank while reading");
            }
        }
        return buf.flip();
    }

    private CheckpointException bad(String problem) {
        return new CheckpointException(file, problem);
    }
}
