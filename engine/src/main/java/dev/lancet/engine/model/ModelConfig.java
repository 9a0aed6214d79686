package dev.lancet.engine.model;

/**
 * The architecture of a checkpoint, independent of the family that named it: the model-wide facts that no
 * structural edit changes. Per-block sizes (heads, MLP width, ...) live in its {@link ModelLayout}.
 */
public record ModelConfig(
        String modelType,
        int vocabSize,
        int hiddenSize,
        /** Width of the token embedding; differs from hiddenSize only for OPT's project_in/out. */
        int embedSize,
        int maxPositions,
        NormKind norm,
        double normEps,
        Positions positions,
        double ropeTheta,
        FeedForwardKind feedForward,
        boolean attentionBias,
        boolean outputBias,
        boolean mlpBias,
        boolean normBias,
        boolean tiedHead) {

    public enum NormKind { LAYER_NORM, RMS_NORM }

    /** OPT adds learned positions (offset 2) to the embeddings; Llama rotates q and k (RoPE). */
    public enum Positions { LEARNED_OFFSET_2, ROTARY }

    /** OPT: fc2(relu(fc1 x)); Llama: down(silu(gate x) * up x). */
    public enum FeedForwardKind { RELU, SILU_GATED }

    public boolean projectsEmbeddings() {
        return embedSize != hiddenSize;
    }
}
