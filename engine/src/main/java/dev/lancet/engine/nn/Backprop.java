package dev.lancet.engine.nn;

import java.util.HashMap;
import java.util.Map;
import org.nd4j.linalg.api.ndarray.INDArray;
import dev.lancet.engine.linalg.Blas;
import dev.lancet.engine.linalg.Workspaces;
import org.nd4j.linalg.factory.Nd4j;

/**
 * What one backward pass produces besides input gradients: the weight gradients of the decoder's
 * linear layers (if asked for) and, per linear layer, its input activations {@code a} and output
 * gradients {@code g} at the labelled token positions, handed to a {@link LinearTap} as they appear.
 */
public final class Backprop {

    private final boolean weightGradients;
    private final LinearTap tap;
    private final int[] labelledRows;
    private final Map<String, INDArray> gradients = new HashMap<>();
    /** q/k/v and gate/up share one input: select its labelled rows once. */
    private INDArray lastInput;
    private INDArray lastInputRows;

    /**
     * @param labelledRows rows of the flattened [batch*seq] activations that carry a next-token label,
     *                     or null when every row does
     */
    public Backprop(boolean weightGradients, LinearTap tap, int[] labelledRows) {
        this.weightGradients = weightGradients;
        this.tap = tap;
        this.labelledRows = labelledRows;
    }

    /** Weight and bias gradients by tensor name ({@code <layer>.weight}, {@code <layer>.bias}). */
    public Map<String, INDArray> gradients() {
        return gradients;
    }

    void observe(Linear layer, INDArray input, INDArray outputGrad) {
        if (!layer.tracked()) {
            return;
        }
        if (weightGradients) {
            INDArray gw = gradients.computeIfAbsent(layer.name() + ".weight",
                    k -> Workspaces.outside(() -> layer.weight().like()));
            Blas.gemm(outputGrad, true, input, false, gw, 1.0, 1.0);
            if (layer.bias() != null) {
                gradients.computeIfAbsent(layer.name() + ".bias", k -> Workspaces.outside(() -> layer.bias().like()))
                        .addi(outputGrad.sum(0));
            }
        }
        if (tap != null) {
            tap.accept(layer, labelled(input), labelledRows == null ? outputGrad : Nd4j.pullRows(outputGrad, 1, labelledRows));
        }
    }

    private INDArray labelled(INDArray input) {
        if (labelledRows == null) {
            return input;
        }
        if (input != lastInput) {
            lastInput = input;
            lastInputRows = Nd4j.pullRows(input, 1, labelledRows);
        }
        return lastInputRows;
    }
}
