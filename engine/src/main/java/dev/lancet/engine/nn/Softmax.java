package dev.lancet.engine.nn;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * Row-wise softmax and log-softmax of row-major arrays, in place, from ND4J's element-wise and reduction
 * ops: its SoftMax/LogSoftMax custom ops were 3× slower than this composition here (BENCHMARKS.md).
 */
public final class Softmax {

    private Softmax() {
    }

    /** Softmax over the last axis. */
    public static INDArray rowsInPlace(INDArray x) {
        INDArray rows = x.reshape('c', x.length() / x.size(-1), x.size(-1));
        rows.subiColumnVector(rows.max(1));
        Transforms.exp(rows, false);
        rows.diviColumnVector(rows.sum(1));
        return x;
    }

    /** Log-softmax over the last axis. */
    public static INDArray logRowsInPlace(INDArray x) {
        INDArray rows = x.reshape('c', x.length() / x.size(-1), x.size(-1));
        rows.subiColumnVector(rows.max(1));
        INDArray logSum = Transforms.log(Transforms.exp(rows, true).sum(1), false);
        rows.subiColumnVector(logSum);
        return x;
    }
}
