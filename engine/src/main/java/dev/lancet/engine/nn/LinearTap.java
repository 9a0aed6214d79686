package dev.lancet.engine.nn;

import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Receives, during backward, each decoder linear layer's inputs {@code a} [n, in] and the gradients of the
 * summed next-token loss with respect to its outputs {@code g} [n, out], one row per labelled token.
 * The arrays are only valid during the call: copy or reduce them, don't keep them.
 */
@FunctionalInterface
public interface LinearTap {
    void accept(Linear layer, INDArray a, INDArray g);
}
