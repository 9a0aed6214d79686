package dev.lancet.engine.nn;

import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * A trainable addition to a frozen {@link Linear} (LoRA): its output is added to the layer's, and its backward
 * gets the same (input, output gradient) pair the layer reports to the {@link Backprop}, from which it accumulates
 * its own parameter gradients, without a second pass.
 */
public interface Adapter {

    /** Δy [n, out] for the layer input x [n, in]. */
    INDArray forward(INDArray x);

    /** Accumulates the adapter's gradients from x [n, in] and dy [n, out]; returns its share of dx [n, in]. */
    INDArray backward(INDArray x, INDArray dy);
}
