package dev.lancet.engine.prune;

import dev.lancet.engine.io.CheckpointException;
import dev.lancet.engine.io.DType;
import dev.lancet.engine.io.SafetensorsFile;
import dev.lancet.engine.io.SafetensorsWriter;
import dev.lancet.engine.io.SafetensorsWriter.Entry;
import dev.lancet.engine.model.Transformer;
import dev.lancet.engine.nn.Linear;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * One unit's weights after a shot removed from and corrected them, as an fp32 safetensors file: how a worker on
 * another node hands its part of a shot back to the job's model. Exact: the file holds the worker's bits.
 */
public final class UnitWeights {

    private UnitWeights() {
    }

    /** Writes (atomically) the weights and biases of the unit's layers. */
    public static void write(Path file, Transformer model, int unit, Structure structure) {
        List<Entry> entries = new ArrayList<>();
        for (Linear linear : ShotUnits.linears(model, unit, structure)) {
            entries.add(entry(linear.name() + ".weight", linear.weight()));
            if (linear.bias() != null) {
                entries.add(entry(linear.name() + ".bias", linear.bias()));
            }
        }
        SafetensorsWriter.write(file, Map.of(), entries);
    }

    /** Copies the unit's weights and biases from {@code file} into {@code model}; shapes must match. */
    public static void readInto(Path file, Transformer model, int unit, Structure structure) {
        try (SafetensorsFile in = SafetensorsFile.open(file)) {
            for (Linear linear : ShotUnits.linears(model, unit, structure)) {
                copy(in, linear.name() + ".weight", linear.weight());
                if (linear.bias() != null) {
                    copy(in, linear.name() + ".bias", linear.bias());
                }
            }
        }
    }

    private static Entry entry(String name, INDArray values) {
        INDArray dense = values.castTo(DataType.FLOAT).dup('c');
        return new Entry(name, DType.F32, values.shape(), dense.data().asNio().order(ByteOrder.LITTLE_ENDIAN)
                .limit((int) (dense.length() * Float.BYTES)));
    }

    private static void copy(SafetensorsFile in, String name, INDArray target) {
        long[] shape = in.find(name).orElseThrow(() -> new CheckpointException(in.path(), "has no '" + name + "'"))
                .shape();
        if (!Arrays.equals(shape, target.shape())) {
            throw new CheckpointException(in.path(), "'" + name + "' has shape " + Arrays.toString(shape)
                    + ", the model's is " + Arrays.toString(target.shape()));
        }
        target.assign(Nd4j.create(in.readFloats(name), shape, 'c').castTo(target.dataType()));
    }
}
