package dev.lancet.engine.model;

/**
 * Hugging Face tensor names of a family, without the ".weight"/".bias" suffix. Names are the
 * CausalLM ones (with the {@code model.} prefix); {@link Checkpoint} also accepts files without it.
 */
public interface TensorNames {

    /** The role of a decoder linear layer; a family maps each role to its own name. */
    enum LinearRole { Q, K, V, O, GATE, UP, DOWN }

    String embedTokens();

    /** Learned position table; only for families with learned positions. */
    String embedPositions();

    String projectIn();

    String projectOut();

    String finalNorm();

    String head();

    String attentionNorm(int layer);

    String feedForwardNorm(int layer);

    String linear(int layer, LinearRole role);
}
