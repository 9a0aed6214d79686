package dev.lancet.engine.nn;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.ops.transforms.Transforms;

/** y = x / sqrt(mean(x²) + eps) · γ over the last axis (Llama). */
public record RmsNorm(String name, INDArray weight, double eps) implements Norm {

    @Override
    public INDArray bias() {
        return null;
    }

    @Override
    public Norm renamed(String newName) {
        return new RmsNorm(newName, weight, eps);
    }

    @Override
    public State forward(INDArray x) {
        INDArray invScale = Transforms.pow(x.mul(x).mean(1).addi(eps), -0.5, false);
        INDArray normalized = x.mulColumnVector(invScale);
        return new State(normalized.mulRowVector(weight), normalized, invScale);
    }

    /** dx = (dx̂ − x̂·mean(dx̂ ∘ x̂)) / rms with dx̂ = dy ∘ γ. */
    @Override
    public INDArray backward(State state, INDArray dy, Backprop backprop) {
        backprop.observe(this, state, dy);
        INDArray dNormalized = dy.mulRowVector(weight);
        INDArray projection = dNormalized.mul(state.normalized()).mean(1);
        dNormalized.subi(state.normalized().mulColumnVector(projection));
        return dNormalized.muliColumnVector(state.invScale());
    }
}
