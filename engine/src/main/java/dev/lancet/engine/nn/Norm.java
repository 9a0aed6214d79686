package dev.lancet.engine.nn;

import org.nd4j.linalg.api.ndarray.INDArray;

/** A per-token normalisation over the feature axis (LayerNorm or RMSNorm) with a learned scale. */
public interface Norm {

    /** The output and what backward needs: the normalised input before the scale, and 1/σ per row. */
    record State(INDArray output, INDArray normalized, INDArray invScale) {
    }

    String name();

    INDArray weight();

    /** Null for RMSNorm. */
    INDArray bias();

    /** The same norm (sharing its weights) under another tensor name, for renumbered blocks. */
    Norm renamed(String name);

    State forward(INDArray x);

    /** dx; reports dy to {@code backprop}, which sums the scale's (and shift's) gradient if asked. */
    INDArray backward(State state, INDArray dy, Backprop backprop);
}
