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

    /**
     * A sliced block's shortcut from its input to the attention output's width, stored like a bias-free linear
     * layer beside the block's norms: {@code <layer prefix>attn_shortcut}.
     */
    default String attentionShortcut(int layer) {
        return layerPrefix(layer) + "attn_shortcut";
    }

    /** A sliced block's shortcut from the attention output's width to its output's: {@code <prefix>mlp_shortcut}. */
    default String mlpShortcut(int layer) {
        return layerPrefix(layer) + "mlp_shortcut";
    }

    /** "model.layers.3." for Llama: the attention norm's name up to its last component. */
    private String layerPrefix(int layer) {
        String norm = attentionNorm(layer);
        return norm.substring(0, norm.lastIndexOf('.') + 1);
    }
}
