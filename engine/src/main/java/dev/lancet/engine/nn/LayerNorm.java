package dev.lancet.engine.nn;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.ops.transforms.Transforms;

/** y = (x − μ)/σ · γ + β over the last axis, σ = sqrt(var + eps) (biased variance, as PyTorch). */
public record LayerNorm(String name, INDArray weight, INDArray bias, double eps) implements Norm {

    @Override
    public Norm renamed(String newName) {
        return new LayerNorm(newName, weight, bias, eps);
    }

    @Override
    public State forward(INDArray x) {
        INDArray centered = x.subColumnVector(x.mean(1));
        INDArray invScale = Transforms.pow(centered.mul(centered).mean(1).addi(eps), -0.5, false);
        INDArray normalized = centered.muliColumnVector(invScale);
        return new State(normalized.mulRowVector(weight).addiRowVector(bias), normalized, invScale);
    }

    /** dx = (dx̂ − mean(dx̂) − x̂·mean(dx̂ ∘ x̂)) / σ with dx̂ = dy ∘ γ. */
    @Override
    public INDArray backward(State state, INDArray dy, Backprop backprop) {
        backprop.observe(this, state, dy);
        INDArray dNormalized = dy.mulRowVector(weight);
        INDArray projection = dNormalized.mul(state.normalized()).mean(1);
        INDArray dx = dNormalized.subiColumnVector(dNormalized.mean(1));
        dx.subi(state.normalized().mulColumnVector(projection));
        return dx.muliColumnVector(state.invScale());
    }
}
