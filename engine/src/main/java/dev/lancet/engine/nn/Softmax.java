package dev.lancet.engine.nn;

import org.nd4j.linalg.api.buffer.DataBuffer;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * Row-wise softmax of row-major arrays, in place, from ND4J's element-wise and reduction ops: its
 * SoftMax/LogSoftMax custom ops were 3× slower than this composition here (BENCHMARKS.md).
 */
public final class Softmax {

    private Softmax() {
    }

    /** Softmax over the last axis. */
    public static INDArray rowsInPlace(INDArray x) {
        crossEntropyInPlace(x, new int[0], new int[0]);
        return x;
    }

    /**
     * Softmax over the last axis of {@code x} [rows, classes], in place, and the summed cross-entropy
     * Σₖ −log softmax(x)[rows[k], classes[k]], taken as (log Σ exp) − x from the max-shifted row before
     * exponentiation: exact without keeping a second vocabulary-wide array of log-probabilities.
     */
    public static double crossEntropyInPlace(INDArray x, int[] rows, int[] classes) {
        Exponentiated e = exponentiate(x, rows, classes);
        e.matrix().diviColumnVector(e.sums());
        return e.loss();
    }

    /**
     * The same summed cross-entropy when only the loss is wanted (evaluation): the same arithmetic, without the
     * vocabulary-wide normalising divide; {@code x} is overwritten with exp(x − max) of each row.
     */
    public static double crossEntropy(INDArray x, int[] rows, int[] classes) {
        return exponentiate(x, rows, classes).loss();
    }

    /** exp(x − max) of each row in place, the rows' sums of it, and the summed cross-entropy. */
    private record Exponentiated(INDArray matrix, INDArray sums, double loss) {
    }

    private static Exponentiated exponentiate(INDArray x, int[] rows, int[] classes) {
        INDArray matrix = x.reshape('c', x.length() / x.size(-1), x.size(-1));
        matrix.subiColumnVector(matrix.max(1));
        DataBuffer data = matrix.data();
        long width = matrix.size(1);
        double[] shifted = new double[rows.length];
        for (int k = 0; k < rows.length; k++) {
            shifted[k] = data.getDouble(rows[k] * width + classes[k]);
        }
        Transforms.exp(matrix, false);
        INDArray sums = matrix.sum(1);
        double loss = 0;
        for (int k = 0; k < rows.length; k++) {
            loss += Math.log(sums.getDouble(rows[k])) - shifted[k];
        }
        return new Exponentiated(matrix, sums, loss);
    }
}
