package dev.lancet.engine.llmpruner;

/**
 * An LLM-Pruner job's scoring and selection.
 *
 * @param layers the blocks pruned, or null for {@link LayerRange#defaultFor} the model's depth
 * @param seed   the random importance's seed
 */
public record TaylorSettings(Importance importance, Aggregation aggregation, LayerRange layers, long seed) {

    /** The range for a model of {@code blocks} blocks, checked against it. */
    public LayerRange range(int blocks) {
        LayerRange range = layers != null ? layers : LayerRange.defaultFor(blocks);
        range.check(blocks);
        return range;
    }
}
