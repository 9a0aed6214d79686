package dev.lancet.engine.nn;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * y = x / sqrt(Σx²/divisor + eps) over the last axis, without parameters: the norm SliceGPT leaves once a model's
 * norm scales and shifts are folded into its linears. {@code divisor} stays the original hidden size after
 * slicing, so a stream whose dropped directions carried little energy normalises as the full one did.
 */
public record FusedRmsNorm(String name, int divisor, double eps) implements Norm {

    @Override
    public INDArray weight() {
        return null;
    }

    @Override
    public INDArray bias() {
        return null;
    }

    @Override
    public Norm renamed(String newName) {
        return new FusedRmsNorm(newName, divisor, eps);
    }

    @Override
    public State forward(INDArray x) {
        INDArray invScale = Transforms.pow(x.mul(x).sum(1).divi(divisor).addi(eps), -0.5, false);
        INDArray y = x.mulColumnVector(invScale);
        return new State(y, y, invScale);
    }

    /** dx = r·(dy − y·Σ(dy ∘ y)/divisor) with r = 1/sqrt(Σx²/divisor + eps). */
    @Override
    public INDArray backward(State state, INDArray dy, Backprop backprop) {
        INDArray projection = dy.mul(state.normalized()).sum(1).divi(divisor);
        INDArray dx = dy.sub(state.normalized().mulColumnVector(projection));
        return dx.muliColumnVector(state.invScale());
    }
}
