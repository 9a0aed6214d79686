package dev.lancet.engine.prune;

import static org.nd4j.linalg.indexing.NDArrayIndex.all;
import static org.nd4j.linalg.indexing.NDArrayIndex.interval;
import static org.nd4j.linalg.indexing.NDArrayIndex.point;

import dev.lancet.engine.nn.Linear;
import java.nio.DoubleBuffer;
import java.util.Arrays;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * W̃ = [W | b], a linear layer's weight with its bias as one more input column (whose input is the constant 1), in
 * fp64: the matrix every cost and correction works on. The layer's own arrays keep the model's dtype.
 */
final class AugmentedWeight {

    private AugmentedWeight() {
    }

    /** A new fp64 [out, in (+1)] copy in the current workspace. */
    static INDArray read(Linear layer) {
        int in = layer.inFeatures();
        boolean bias = layer.bias() != null;
        INDArray w = Nd4j.createUninitialized(DataType.DOUBLE, layer.outFeatures(), in + (bias ? 1 : 0));
        w.get(all(), interval(0, in)).assign(layer.weight());
        if (bias) {
            w.get(all(), point(in)).assign(layer.bias().reshape(layer.outFeatures()));
        }
        return w;
    }

    /** Writes W̃ back into the layer's weight and bias, in their dtype. */
    static void write(INDArray w, Linear layer) {
        int in = layer.inFeatures();
        layer.weight().assign(w.get(all(), interval(0, in)));
        if (layer.bias() != null) {
            layer.bias().assign(w.get(all(), point(in)).reshape(layer.bias().shape()));
        }
    }

    /** The values of an fp64 matrix shaped like W̃ (weights or costs), row-major (copied only if it is not already that, in fp64). */
    static DoubleBuffer rowMajorValues(INDArray matrix) {
        INDArray dense = matrix.dataType() != DataType.DOUBLE ? matrix.castTo(DataType.DOUBLE).dup('c')
                : matrix.isView() || matrix.ordering() != 'c' ? matrix.dup('c') : matrix;
        return dense.data().asNioDouble();
    }

    /** Per row of W̃: whether it is all zero. */
    static boolean[] zeroRows(INDArray w) {
        return zeroLines(w, true);
    }

    /** Per column of W̃: whether it is all zero. */
    static boolean[] zeroColumns(INDArray w) {
        return zeroLines(w, false);
    }

    private static boolean[] zeroLines(INDArray w, boolean rows) {
        int r = (int) w.rows();
        int c = (int) w.columns();
        boolean[] zero = new boolean[rows ? r : c];
        Arrays.fill(zero, true);
        DoubleBuffer values = rowMajorValues(w);
        for (int i = 0; i < r; i++) {
            for (int j = 0; j < c; j++) {
                if (values.get(i * c + j) != 0) {
                    zero[rows ? i : j] = false;
                }
            }
        }
        return zero;
    }
}
