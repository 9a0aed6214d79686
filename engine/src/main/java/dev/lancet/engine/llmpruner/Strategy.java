package dev.lancet.engine.llmpruner;

/**
 * Which coupled groups LLM-Pruner removes (the reference's {@code --block_wise} and {@code --channel_wise}):
 * {@link #BLOCKS}, attention heads (a key/value head with its query heads) and MLP channels of the blocks in the
 * layer range, the same share in each; {@link #QUERY_HEADS}, the same with single query heads of GQA blocks instead
 * of whole key/value groups, the same number from every group; {@link #CHANNELS}, hidden (residual-stream) features
 * of the whole model, one width for every block ({@link dev.lancet.engine.model.HiddenChannelEdit}).
 */
public enum Strategy {
    BLOCKS, QUERY_HEADS, CHANNELS
}
