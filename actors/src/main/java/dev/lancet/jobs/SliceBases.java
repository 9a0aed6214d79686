package dev.lancet.jobs;

import dev.lancet.engine.io.DType;
import dev.lancet.engine.io.SafetensorsFile;
import dev.lancet.engine.io.SafetensorsWriter;
import dev.lancet.engine.io.TensorInfo;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * A slicing run's bases so far (fp64, bit for bit, in visiting order), the state a killed run continues from: a
 * safetensors file replaced atomically after each block, so it holds the bases of every block the run's
 * {@code progress.json} counts, or of one more.
 */
final class SliceBases {

    static final String FILE = "slicegpt-bases.safetensors";

    private SliceBases() {
    }

    static void write(Path file, List<INDArray> bases) {
        List<SafetensorsWriter.Entry> entries = new ArrayList<>();
        for (int i = 0; i < bases.size(); i++) {
            INDArray basis = bases.get(i).castTo(DataType.DOUBLE).dup('c');
            ByteBuffer bytes = basis.data().asNio().order(ByteOrder.LITTLE_ENDIAN);
            bytes.limit((int) (basis.length() * Double.BYTES));
            entries.add(new SafetensorsWriter.Entry("basis." + i, DType.F64, basis.shape(), bytes));
        }
        SafetensorsWriter.write(file, Map.of(), entries);
    }

    /** The first {@code count} bases of the file. */
    static List<INDArray> read(Path file, int count) {
        List<INDArray> bases = new ArrayList<>();
        try (SafetensorsFile saved = SafetensorsFile.open(file)) {
            for (int i = 0; i < count; i++) {
                String name = "basis." + i;
                TensorInfo tensor = saved.find(name).orElseThrow(() -> new IllegalStateException(
                        file + " holds fewer bases than its run recorded"));
                INDArray basis = Nd4j.createUninitialized(DataType.DOUBLE, tensor.shape(), 'c');
                basis.data().asNio().order(ByteOrder.LITTLE_ENDIAN).put(saved.raw(name));
                bases.add(basis);
            }
        }
        return bases;
    }
}
