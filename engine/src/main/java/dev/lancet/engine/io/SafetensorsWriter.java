package dev.lancet.engine.io;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.Consumer;

/** Writes safetensors files laid out as the reference implementation does, so round trips are byte-identical. */
public final class SafetensorsWriter {
    private static final ObjectMapper JSON = new ObjectMapper(); // compact output, like json.dumps(separators=(",", ":"))

    private SafetensorsWriter() {
    }

    /**
     * A tensor's bytes (little-endian, exactly elements * dtype bytes in all), made when the writer reaches the
     * tensor and handed to {@code sink} in one or more pieces that need stay valid only during the call. Large
     * tensors computed on the fly (factor means, pruned weights) thus never exist all at once.
     */
    @FunctionalInterface
    public interface Body {
        void emit(Consumer<ByteBuffer> sink);
    }

    /** One tensor to write. */
    public record Entry(String name, DType dtype, long[] shape, Body body) {
        public Entry {
            bytes(name, dtype, shape); // validates the shape now rather than half-way through the file
        }

        /** A tensor whose bytes are {@code data} from its position. */
        public Entry(String name, DType dtype, long[] shape, ByteBuffer data) {
            this(name, dtype, shape, sink -> sink.accept(data.duplicate())); // leave the caller's position alone
            long expected = bytes(name, dtype, shape);
            if (data.remaining() != expected) {
                throw new IllegalArgumentException("tensor '" + name + "' shape " + Arrays.toString(shape) + " of "
                        + dtype + " needs " + expected + " bytes, data has " + data.remaining());
            }
        }

        long bytes() {
            return bytes(name, dtype, shape);
        }

        private static long bytes(String name, DType dtype, long[] shape) {
            return Math.multiplyExact(elements(shape), dtype.bytes());
        }

        /** Encodes fp32 values as {@code target}, rounding to nearest even for F16/BF16. */
        public static Entry ofFloats(String name, DType target, long[] shape, float[] values) {
            if (values.length != elements(shape)) {
                throw new IllegalArgumentException("tensor '" + name + "' shape " + Arrays.toString(shape)
                        + " does not hold " + values.length + " values");
            }
            ByteBuffer buf = ByteBuffer.allocate(Math.multiplyExact(values.length, target.bytes()))
                    .order(ByteOrder.LITTLE_ENDIAN);
            switch (target) {
                case F32 -> buf.asFloatBuffer().put(values);
                case F64 -> { for (float v : values) buf.putDouble(v); }
                case F16 -> { for (float v : values) buf.putShort(HalfFloat.floatToF16(v)); }
                case BF16 -> { for (float v : values) buf.putShort(HalfFloat.floatToBf16(v)); }
                default -> throw new IllegalArgumentException("cannot encode floats as " + target);
            }
            return new Entry(name, target, shape, buf.rewind());
        }

        /** The tensor's bytes unchanged (zero copy: they are streamed from the source file's mapping). */
        public static Entry copyOf(SafetensorsFile file, TensorInfo tensor) {
            return new Entry(tensor.name(), tensor.dtype(), tensor.shape(), file.raw(tensor.name()));
        }

        private static long elements(long[] shape) {
            long n = 1;
            for (long d : shape) {
                if (d < 0) {
                    throw new IllegalArgumentException("negative shape " + Arrays.toString(shape));
                }
                n = Math.multiplyExact(n, d);
            }
            return n;
        }
    }

    /**
     * Writes {@code __metadata__} (if non-empty) and the tensors in the given order with contiguous offsets.
     * The file is replaced atomically, so readers never see a partial file.
     */
    public static void write(Path file, Map<String, String> metadata, List<Entry> tensors) {
        Path target = file.toAbsolutePath();
        // Not Files.createTempFile: that would give the final file mode 0600 instead of the umask default.
        Path temp = target.resolveSibling("." + target.getFileName() + "."
                + Long.toHexString(ThreadLocalRandom.current().nextLong()) + ".tmp");
        try {
            byte[] header = header(metadata, tensors);
            try (FileChannel out = FileChannel.open(temp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
                writeFully(out, ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, header.length));
                writeFully(out, ByteBuffer.wrap(header));
                for (Entry e : tensors) {
                    writeBody(out, e);
                }
                out.force(true);
            }
            Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            throw new CheckpointException(file, "cannot write: " + e, e);
        } finally {
            try {
                Files.deleteIfExists(temp); // only still there if something failed
            } catch (IOException ignored) {
                // the failure being thrown matters more
            }
        }
    }

    private static byte[] header(Map<String, String> metadata, List<Entry> tensors) throws IOException {
        ObjectNode root = JSON.createObjectNode();
        if (!metadata.isEmpty()) {
            ObjectNode meta = root.putObject("__metadata__");
            metadata.forEach(meta::put);
        }
        long offset = 0;
        for (Entry e : tensors) {
            if (e.name().equals("__metadata__") || root.has(e.name())) {
                throw new IllegalArgumentException("duplicate or reserved tensor name '" + e.name() + "'");
            }
            ObjectNode t = root.putObject(e.name());
            t.put("dtype", e.dtype().name());
            ArrayNode shape = t.putArray("shape");
            Arrays.stream(e.shape()).forEach(shape::add);
            long end = offset + e.bytes();
            t.putArray("data_offsets").add(offset).add(end);
            offset = end;
        }
        byte[] json = JSON.writeValueAsBytes(root);
        byte[] padded = Arrays.copyOf(json, (json.length + 7) & ~7); // data section starts 8-byte aligned
        Arrays.fill(padded, json.length, padded.length, (byte) ' ');
        return padded;
    }

    private static void writeBody(FileChannel out, Entry e) throws IOException {
        long[] written = {0};
        try {
            e.body().emit(piece -> {
                written[0] += piece.remaining();
                try {
                    writeFully(out, piece);
                } catch (IOException io) {
                    throw new UncheckedIOException(io);
                }
            });
        } catch (UncheckedIOException io) {
            throw io.getCause();
        }
        if (written[0] != e.bytes()) {
            throw new IllegalArgumentException("tensor '" + e.name() + "' shape " + Arrays.toString(e.shape()) + " of "
                    + e.dtype() + " needs " + e.bytes() + " bytes, its body gave " + written[0]);
        }
    }

    private static void writeFully(FileChannel out, ByteBuffer buf) throws IOException {
        while (buf.hasRemaining()) {
            out.write(buf);
        }
    }
}
