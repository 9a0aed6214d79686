package dev.lancet.engine.lora;

import dev.lancet.engine.model.TensorNames.LinearRole;
import java.util.EnumSet;
import java.util.Set;

/**
 * LoRA adapters ΔW = (α/r)·B·A of rank r on the decoder linear layers whose role is in {@code targets}, with
 * dropout on the adapters' input. Defaults are LLM-Pruner's recovery ({@code post_training.py}): r 8, α 16,
 * dropout 0.05, every decoder linear layer (q, k, v, o, gate, up, down; OPT's fc1/fc2 have the roles UP/DOWN).
 */
public record LoraSettings(int rank, double alpha, double dropout, long seed, Set<LinearRole> targets) {

    public static final int DEFAULT_RANK = 8;
    public static final double DEFAULT_ALPHA = 16;
    public static final double DEFAULT_DROPOUT = 0.05;

    public LoraSettings {
        targets = Set.copyOf(targets);
        if (rank < 1) {
            throw new IllegalArgumentException("the LoRA rank must be at least 1, got " + rank);
        }
        if (!(alpha > 0)) {
            throw new IllegalArgumentException("the LoRA alpha must be positive, got " + alpha);
        }
        if (!(dropout >= 0 && dropout < 1)) {
            throw new IllegalArgumentException("the LoRA dropout must be in [0, 1), got " + dropout);
        }
        if (targets.isEmpty()) {
            throw new IllegalArgumentException("LoRA needs at least one target layer role");
        }
    }

    public static LoraSettings defaults(long seed) {
        return new LoraSettings(DEFAULT_RANK, DEFAULT_ALPHA, DEFAULT_DROPOUT, seed, EnumSet.allOf(LinearRole.class));
    }

    public LoraSettings withRank(int newRank) {
        return new LoraSettings(newRank, alpha, dropout, seed, targets);
    }

    /** α / r, the factor of B·A in the layer's output. */
    public double scale() {
        return alpha / rank;
    }
}
