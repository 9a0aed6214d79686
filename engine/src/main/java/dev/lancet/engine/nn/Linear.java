package dev.lancet.engine.nn;

import org.nd4j.linalg.api.ndarray.INDArray;
import dev.lancet.engine.linalg.Blas;

/**
 * y = x Wᵀ + b with W in Hugging Face layout [out, in].
 *
 * @param name    the tensor name without ".weight", e.g. {@code model.layers.0.self_attn.q_proj}
 * @param bias    null when the layer has none
 * @param tracked whether backward reports this layer (decoder linears) or not (OPT's project_in/out)
 */
public record Linear(String name, INDArray weight, INDArray bias, boolean tracked) {

    public int inFeatures() {
        return (int) weight.size(1);
    }

    public int outFeatures() {
        return (int) weight.size(0);
    }

    public INDArray forward(INDArray x) {
        INDArray y = Blas.gemm(x, false, weight, true);
        return bias == null ? y : y.addiRowVector(bias);
    }

    /** Reports (x, dy) to the backprop and returns dx. */
    public INDArray backward(INDArray x, INDArray dy, Backprop backprop) {
        backprop.observe(this, x, dy);
        return Blas.gemm(dy, false, weight, false);
    }
}
