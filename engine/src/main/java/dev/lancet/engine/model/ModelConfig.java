package dev.lancet.engine.model;

import dev.lancet.engine.nn.RopeScaling;

/**
 * The architecture of a checkpoint, independent of the family that named it: the model-wide facts that no
 * structural edit changes but the removal of hidden channels ({@link #withHiddenSize}). Per-block sizes (heads, MLP
 * width, ...) live in its {@link ModelLayout}.
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
        boolean tiedHead,
        NormPlacement normPlacement,
        /** Applied to RoPE's frequencies; {@link RopeScaling#UNSCALED} for learned positions. */
        RopeScaling ropeScaling,
        /** Mistral's attention span in positions; {@link #NO_SLIDING_WINDOW} when a query sees its whole prefix. */
        int slidingWindow) {

    public static final int NO_SLIDING_WINDOW = Integer.MAX_VALUE;

    /**
     * FUSED_RMS_NORM: x / sqrt(Σx²/hidden_size + eps) without parameters, over a residual stream that may be
     * narrower than hidden_size; what SliceGPT leaves after folding a model's norms into its linears.
     */
    public enum NormKind { LAYER_NORM, RMS_NORM, FUSED_RMS_NORM }

    /** OPT adds learned positions (offset 2) to the embeddings; Llama rotates q and k (RoPE). */
    public enum Positions { LEARNED_OFFSET_2, ROTARY }

    /** OPT: fc2(relu(fc1 x)); Llama: down(silu(gate x) * up x). */
    public enum FeedForwardKind { RELU, SILU_GATED }

    /**
     * Where a block normalises: before each sublayer, inside the residual branch (Llama, most OPT), or after each
     * residual add (OPT-350m, do_layer_norm_before=false), which then has no final norm.
     */
    public enum NormPlacement { PRE_NORM, POST_NORM }

    /** A post-norm model's last block already ends on a norm; Hugging Face builds no final one for it. */
    public boolean hasFinalNorm() {
        return normPlacement == NormPlacement.PRE_NORM;
    }

    /** The same architecture with a head of its own (a fused or sliced model no longer shares the embedding). */
    public ModelConfig withUntiedHead() {
        return new ModelConfig(modelType, vocabSize, hiddenSize, embedSize, maxPositions, norm, normEps, positions,
                ropeTheta, feedForward, attentionBias, outputBias, mlpBias, normBias, false, normPlacement, ropeScaling,
                slidingWindow);
    }

    /**
     * The same architecture over a residual stream of {@code hidden} features (LLM-Pruner's hidden channels removed);
     * only for models whose embeddings are as wide as the stream.
     */
    public ModelConfig withHiddenSize(int hidden) {
        if (projectsEmbeddings()) {
            throw new IllegalArgumentException("a model with project_in/out has embeddings narrower than its stream");
        }
        return new ModelConfig(modelType, vocabSize, hidden, hidden, maxPositions, norm, normEps, positions, ropeTheta,
                feedForward, attentionBias, outputBias, mlpBias, normBias, tiedHead, normPlacement, ropeScaling,
                slidingWindow);
    }

    public boolean projectsEmbeddings() {
        return embedSize != hiddenSize;
    }
}
