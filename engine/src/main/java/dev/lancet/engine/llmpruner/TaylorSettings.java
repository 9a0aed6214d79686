package dev.lancet.engine.llmpruner;

/**
 * An LLM-Pruner job's scoring and selection.
 *
 * @param layers the blocks pruned, or null for {@link LayerRange#defaultFor} the model's depth; only for
 *               {@link Strategy#BLOCKS}, since hidden channels run through every block
 * @param seed   the random importance's seed
 */
public record TaylorSettings(Strategy strategy, Importance importance, Aggregation aggregation, LayerRange layers,
                             long seed) {

    public TaylorSettings {
        if (strategy == Strategy.CHANNELS && layers != null) {
            throw new IllegalArgumentException("--layers applies to --strategy blocks only: hidden channels run "
                    + "through every block");
        }
    }

    /** The range for a model of {@code blocks} blocks, checked against it. */
    public LayerRange range(int blocks) {
        LayerRange range = layers != null ? layers : LayerRange.defaultFor(blocks);
        range.check(blocks);
        return range;
    }
}
