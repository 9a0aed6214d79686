package dev.lancet.engine.curvature;

import dev.lancet.engine.io.CheckpointException;
import dev.lancet.engine.io.SafetensorsFile;
import dev.lancet.engine.io.SafetensorsWriter;
import dev.lancet.engine.io.SafetensorsWriter.Entry;
import dev.lancet.engine.io.TensorInfo;
import dev.lancet.engine.linalg.Workspaces;
import dev.lancet.engine.model.LinearLayout;
import dev.lancet.engine.model.ModelLayout;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * KFAC factors as safetensors: {@code <layer>.A} and {@code <layer>.G} (the means), the token count in
 * {@code __metadata__["tokens"]} and which layers carry a bias column in {@code __metadata__["bias_layers"]}.
 * Written atomically, so adding new data to a file in place never leaves it half-written.
 */
public final class FactorFile {

    public static final String TOKENS = "tokens";
    public static final String BIAS_LAYERS = "bias_layers";
    /** {@code __metadata__["values"]}: "sums" in an exact hand-over file; absent (means) otherwise. */
    private static final String VALUES = "values";
    private static final String SUMS = "sums";

    private FactorFile() {
    }

    /** Fails before a long computation rather than after it when {@code file} could not be written. */
    public static void checkDestination(Path file) {
        if (!Files.isDirectory(file.toAbsolutePath().getParent())) {
            throw new CheckpointException(file, "output directory does not exist");
        }
    }

    public static void write(Path file, KfacState state, Precision precision) {
        write(file, state, precision, false);
    }

    /**
     * Writes the fp64 running sums themselves, so that {@link #read} gives back bit for bit the state it was given
     * (means times the count are not): how another node gets exactly the curvature this one computed.
     */
    public static void writeSums(Path file, KfacState state) {
        write(file, state, Precision.FP64, true);
    }

    private static void write(Path file, KfacState state, Precision precision, boolean sums) {
        List<Entry> entries = new ArrayList<>();
        List<String> biasLayers = new ArrayList<>();
        for (KfacFactor f : state.factors()) {
            entries.add(entry(f.layer() + ".A", f.dimA(), sums ? f::sumA : f::a, precision));
            entries.add(entry(f.layer() + ".G", f.dimG(), sums ? f::sumG : f::g, precision));
            if (f.hasBias()) {
                biasLayers.add(f.layer());
            }
        }
        Map<String, String> metadata = new LinkedHashMap<>();
        metadata.put(TOKENS, Long.toString(state.tokens()));
        metadata.put(BIAS_LAYERS, String.join(",", biasLayers));
        if (sums) {
            metadata.put(VALUES, SUMS);
        }
        SafetensorsWriter.write(file, metadata, entries);
    }

    /** A mean computed only when the writer reaches it, in a workspace recycled for the next one. */
    private static Entry entry(String name, int n, Supplier<INDArray> mean, Precision precision) {
        return new Entry(name, precision.fileType(), new long[] {n, n}, sink -> {
            try (MemoryWorkspace ignored = Workspaces.open(Workspaces.FACTOR_FILE)) {
                INDArray values = mean.get().castTo(precision.blockType());
                sink.accept(values.data().asNio().order(ByteOrder.LITTLE_ENDIAN)
                        .limit((int) (values.length() * values.data().getElementSize())));
            }
        });
    }

    /** Reads a factor file back into running sums. */
    public static KfacState read(Path file) {
        try (SafetensorsFile in = SafetensorsFile.open(file)) {
            String tokens = in.metadata().get(TOKENS);
            if (tokens == null || !tokens.matches("\\d+")) {
                throw new CheckpointException(file, "not a factor file: no '" + TOKENS + "' count in __metadata__");
            }
            List<String> biasLayers = List.of(in.metadata().getOrDefault(BIAS_LAYERS, "").split(","));
            boolean sums = SUMS.equals(in.metadata().get(VALUES));
            KfacState state = new KfacState();
            try {
                for (TensorInfo t : in.tensors()) {
                    if (!t.name().endsWith(".A")) {
                        continue;
                    }
                    String layer = t.name().substring(0, t.name().length() - 2);
                    TensorInfo g = in.find(layer + ".G")
                            .orElseThrow(() -> new CheckpointException(file, "'" + layer + ".A' has no matching '.G'"));
                    // the full matrices are read into a recycled workspace; only the packed sums are kept
                    try (MemoryWorkspace ignored = Workspaces.open(Workspaces.FACTOR_FILE)) {
                        boolean bias = biasLayers.contains(layer);
                        long n = Long.parseLong(tokens);
                        state.put(sums ? KfacFactor.fromSums(layer, bias, matrix(in, t, file), matrix(in, g, file), n)
                                : KfacFactor.fromMeans(layer, bias, matrix(in, t, file), matrix(in, g, file), n));
                    }
                }
                return state;
            } catch (RuntimeException e) {
                state.close();
                throw e;
            }
        }
    }

    /**
     * Reads a factor file to add new data to: it must hold the factors of exactly the layout's layers, with their
     * shapes. Checks shapes only, without allocating the empty state (1.2 GB of zeros for a 125M model).
     */
    public static KfacState readFor(Path file, ModelLayout layout) {
        List<LinearLayout> layers = layout.linears();
        KfacState state = read(file);
        try {
            for (LinearLayout layer : layers) {
                KfacFactor old = state.find(layer.name()).orElseThrow(() -> new CheckpointException(file,
                        "has no factors for layer '" + layer.name() + "' of this model"));
                if (!old.fits(layer)) {
                    throw new CheckpointException(file, "factors of '" + layer.name()
                            + "' have another shape than this model's layer");
                }
            }
            if (state.factors().size() != layers.size()) {
                throw new CheckpointException(file, "holds " + state.factors().size() + " layers, the model has "
                        + layers.size());
            }
            return state;
        } catch (RuntimeException e) {
            state.close();
            throw e;
        }
    }

    private static INDArray matrix(SafetensorsFile in, TensorInfo t, Path file) {
        if (t.shape().length != 2 || t.shape()[0] != t.shape()[1]) {
            throw new CheckpointException(file, "factor '" + t.name() + "' is not a square matrix");
        }
        INDArray matrix = Nd4j.createUninitialized(DataType.DOUBLE, t.shape(), 'c');
        in.readInto(t.name(), matrix.data().asNioDouble());
        return matrix;
    }
}
