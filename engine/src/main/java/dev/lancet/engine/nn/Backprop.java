package dev.lancet.engine.nn;

import java.util.HashMap;
import java.util.Map;
import org.nd4j.linalg.api.ndarray.INDArray;
import dev.lancet.engine.linalg.Blas;
import dev.lancet.engine.linalg.Workspaces;
import org.nd4j.linalg.factory.Nd4j;

/**
 * What one backward pass produces besides input gradients: the gradients of the model's weights and biases (if
 * asked for: the decoder's linear layers, the norms, the embeddings and the head) and, per linear layer, its input
 * activations {@code a} and output gradients {@code g} at the labelled token positions, handed to a
 * {@link LinearTap} as they appear.
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

    /** Whether weight gradients are asked for. */
    public boolean weightGradients() {
        return weightGradients;
    }

    /** Weight and bias gradients by tensor name ({@code <layer>.weight}, {@code <layer>.bias}). */
    public Map<String, INDArray> gradients() {
        return gradients;
    }

    void observe(Linear layer, INDArray input, INDArray outputGrad) {
        if (!layer.tracked()) {
            return;
        }
        observeProduct(layer.name() + ".weight", layer.weight(), input, outputGrad, layer.name() + ".bias",
                layer.bias());
        if (tap != null) {
            tap.accept(layer, labelled(input), labelledRows == null ? outputGrad : Nd4j.pullRows(outputGrad, 1, labelledRows));
        }
    }

    /** A norm's scale and shift gradients: dγ = Σ_rows dy ∘ x̂ (x̂ normalised, before the scale), dβ = Σ_rows dy. */
    void observe(Norm norm, Norm.State state, INDArray dy) {
        if (weightGradients && norm.weight() != null) {
            accumulate(norm.name() + ".weight", norm.weight(), dy.mul(state.normalized()).sum(0));
            if (norm.bias() != null) {
                accumulate(norm.name() + ".bias", norm.bias(), dy.sum(0));
            }
        }
    }

    /**
     * The gradient of a weight {@code tensor} [out, in] read as y = x Wᵀ outside the decoder's linear layers (the
     * head): dW = dyᵀ x; the bias, if there is one, under {@code biasTensor}: Σ_rows dy.
     */
    public void observeProduct(String tensor, INDArray weight, INDArray input, INDArray outputGrad, String biasTensor,
                               INDArray bias) {
        if (weightGradients) {
            INDArray gw = gradients.computeIfAbsent(tensor, k -> Workspaces.outside(weight::like));
            Blas.gemm(outputGrad, true, input, false, gw, 1.0, 1.0);
            if (bias != null) {
                accumulate(biasTensor, bias, outputGrad.sum(0));
            }
        }
    }

    /**
     * The gradient of a lookup table {@code tensor} (embeddings) whose row {@code rows[r]} was added to row r of the
     * output: row r of {@code outputGrad} is added to the table's gradient at that row.
     */
    public void observeLookup(String tensor, INDArray table, int[] rows, INDArray outputGrad) {
        if (weightGradients) {
            INDArray g = gradients.computeIfAbsent(tensor, k -> Workspaces.outside(table::like));
            for (int r = 0; r < rows.length; r++) {
                g.getRow(rows[r]).addi(outputGrad.getRow(r));
            }
        }
    }

    private void accumulate(String tensor, INDArray like, INDArray gradient) {
        gradients.computeIfAbsent(tensor, k -> Workspaces.outside(like::like)).addi(gradient);
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
