package dev.lancet.engine.nn;

import org.nd4j.linalg.api.ndarray.INDArray;
import dev.lancet.engine.linalg.Blas;

/**
 * y = x Wᵀ + b with W in Hugging Face layout [out, in].
 *
 * @param name    the tensor name without ".weight", e.g. {@code model.layers.0.self_attn.q_proj}
 * @param bias    null when the layer has none
 * @param tracked whether backward reports this layer (decoder linears) or not (OPT's project_in/out)
 * @param adapter null, or a trainable addition on the frozen weights (LoRA)
 */
public record Linear(String name, INDArray weight, INDArray bias, boolean tracked, Adapter adapter) {

    public Linear(String name, INDArray weight, INDArray bias, boolean tracked) {
        this(name, weight, bias, tracked, null);
    }

    /** The same layer, sharing its weights, with {@code adapter} added (null: without one). */
    public Linear withAdapter(Adapter adapter) {
        return new Linear(name, weight, bias, tracked, adapter);
    }

    public int inFeatures() {
        return (int) weight.size(1);
    }

    public int outFeatures() {
        return (int) weight.size(0);
    }

    public INDArray forward(INDArray x) {
        INDArray y = Blas.gemm(x, false, weight, true);
        if (bias != null) {
            y.addiRowVector(bias);
        }
        return adapter == null ? y : y.addi(adapter.forward(x));
    }

    /** Reports (x, dy) to the backprop, and to the adapter if there is one, and returns dx. */
    public INDArray backward(INDArray x, INDArray dy, Backprop backprop) {
        backprop.observe(this, x, dy);
        INDArray dx = Blas.gemm(dy, false, weight, false);
        return adapter == null ? dx : dx.addi(adapter.backward(x, dy));
    }
}
