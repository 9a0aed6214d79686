package dev.lancet.engine.lora;

import dev.lancet.engine.linalg.Workspaces;
import java.util.ArrayList;
import java.util.List;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * AdamW as PyTorch's {@code torch.optim.AdamW}: p ← p·(1 − lr·λ), m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g²,
 * p ← p − lr/(1−β₁ᵗ) · m / (√v/√(1−β₂ᵗ) + ε). Holds the moments; parameters and gradients stay their owners'.
 */
final class AdamW implements AutoCloseable {

    /** Hugging Face Trainer's defaults (β 0.9/0.999, ε 1e-8, no weight decay), which LLM-Pruner's recovery uses. */
    record Hyper(double beta1, double beta2, double epsilon, double weightDecay) {
        static Hyper defaults() {
            return new Hyper(0.9, 0.999, 1e-8, 0.0);
        }
    }

    private final List<INDArray> parameters;
    private final List<INDArray> gradients;
    private final List<INDArray> first = new ArrayList<>();
    private final List<INDArray> second = new ArrayList<>();
    private final Hyper hyper;
    private long steps;

    AdamW(List<INDArray> parameters, List<INDArray> gradients, Hyper hyper) {
        this.parameters = List.copyOf(parameters);
        this.gradients = List.copyOf(gradients);
        this.hyper = hyper;
        for (INDArray p : parameters) {
            first.add(Workspaces.outside(() -> p.ulike().assign(0)));
            second.add(Workspaces.outside(() -> p.ulike().assign(0)));
        }
    }

    void step(double lr) {
        steps++;
        double correction1 = 1 - Math.pow(hyper.beta1(), steps);
        double correction2 = Math.sqrt(1 - Math.pow(hyper.beta2(), steps));
        try (MemoryWorkspace ignored = Workspaces.open(Workspaces.OPTIMIZER)) {
            for (int i = 0; i < parameters.size(); i++) {
                INDArray p = parameters.get(i);
                INDArray g = gradients.get(i);
                INDArray m = first.get(i).muli(hyper.beta1()).addi(g.mul(1 - hyper.beta1()));
                INDArray v = second.get(i).muli(hyper.beta2()).addi(g.mul(g).muli(1 - hyper.beta2()));
                if (hyper.weightDecay() != 0) {
                    p.muli(1 - lr * hyper.weightDecay());
                }
                INDArray denominator = Transforms.sqrt(v, true).divi(correction2).addi(hyper.epsilon());
                p.subi(m.div(denominator).muli(lr / correction1));
            }
        }
    }

    long steps() {
        return steps;
    }

    /** The first moments, one per parameter, in the parameters' order (for saving and restoring). */
    List<INDArray> firstMoments() {
        return first;
    }

    List<INDArray> secondMoments() {
        return second;
    }

    void restoreSteps(long done) {
        steps = done;
    }

    @Override
    public void close() {
        first.forEach(INDArray::close);
        second.forEach(INDArray::close);
    }
}
